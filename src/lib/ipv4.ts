/**
 * IPv4 address and CIDR arithmetic, shared by the server (the task network cut into host ranges)
 * and the oci runtime (a host's range, its addresses, the bridge). Addresses are unsigned 32-bit
 * numbers; a range is its first address and its prefix length. Parsers answer undefined for bad
 * text: the callers say what was wrong in their own terms.
 */

export interface Ipv4Range {
  /** First address of the range (the network address), 0 to 2^32-1. */
  base: number;
  /** Prefix length, 0 to 32. */
  prefix: number;
}

/** "10.88.3.7" as a number, or undefined if it is not a dotted quad of 0-255. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** Number of addresses in a range of this prefix length. */
export function rangeSize(prefix: number): number {
  return 2 ** (32 - prefix);
}

/**
 * "10.88.3.9/24" as the range it names (base 10.88.3.0), or undefined if it is not IPv4 CIDR.
 * Host bits are allowed and cleared.
 */
export function parseCidr(text: string): Ipv4Range | undefined {
  const [ip, bits, ...rest] = text.split('/');
  const n = ip === undefined ? undefined : parseIpv4(ip);
  if (n === undefined || rest.length > 0 || !/^\d{1,2}$/.test(bits ?? '')) return undefined;
  const prefix = Number(bits);
  if (prefix > 32) return undefined;
  const size = rangeSize(prefix);
  return { base: Math.floor(n / size) * size, prefix };
}

export function formatCidr(r: Ipv4Range): string {
  return `${formatIpv4(r.base)}/${r.prefix}`;
}

/** Whether the address (a number) is inside the range. */
export function rangeHas(r: Ipv4Range, address: number): boolean {
  return address >= r.base && address < r.base + rangeSize(r.prefix);
}

/** Whether `outer` contains all of `inner` (equal ranges included). */
export function rangeContains(outer: Ipv4Range, inner: Ipv4Range): boolean {
  return (
    outer.prefix <= inner.prefix &&
    rangeHas(outer, inner.base) &&
    rangeHas(outer, inner.base + rangeSize(inner.prefix) - 1)
  );
}

/** Whether two ranges share any address. */
export function rangesOverlap(a: Ipv4Range, b: Ipv4Range): boolean {
  return a.base < b.base + rangeSize(b.prefix) && b.base < a.base + rangeSize(a.prefix);
}

const PRIVATE: Ipv4Range[] = [
  { base: 10 * 2 ** 24, prefix: 8 },
  { base: 172 * 2 ** 24 + 16 * 2 ** 16, prefix: 12 },
  { base: 192 * 2 ** 24 + 168 * 2 ** 16, prefix: 16 },
];

/** Whether the range lies wholly in 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16 (RFC 1918). */
export function isPrivateRange(r: Ipv4Range): boolean {
  return PRIVATE.some((p) => rangeContains(p, r));
}

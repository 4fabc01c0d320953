/** The platform's CSPRNG (Web Crypto: the same in Node and in the browser, which bundles the model). */
function randomBytes(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65_536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65_536)));
  return out;
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';

/** Random bytes drawn from the system in blocks (one call per 4 KiB instead of one per id). */
const pool = { bytes: new Uint8Array(0), next: 0 };
const POOL_SIZE = 4096;

function pooledRandom(n: number): Uint8Array {
  if (n > POOL_SIZE) return randomBytes(n);
  if (pool.next + n > pool.bytes.length) {
    pool.bytes = randomBytes(POOL_SIZE);
    pool.next = 0;
  }
  const out = pool.bytes.subarray(pool.next, pool.next + n);
  pool.next += n;
  return out;
}

/** A short random lowercase id, safe in hostnames and file names. */
export function shortId(length = 5, random: (n: number) => Uint8Array = pooledRandom): string {
  const bytes = random(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[(bytes[i] ?? 0) % ALPHABET.length];
  return out;
}

/** Names of jobs and hosts: DNS-label-like, so they can be hostnames, file names and key parts. */
export const NAME_PATTERN = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The cluster's task network and its per-host ranges (as Kubernetes' --cluster-cidr and each node's
 * podCIDR): one private IPv4 range, cut into equal blocks of `hostPrefix` bits; each host whose
 * runtime gives tasks addresses holds one block, recorded in the store.
 */
import { DabbaError } from '../../errors/index.ts';

export const DEFAULT_TASK_NETWORK = '10.88.0.0/16';
export const DEFAULT_HOST_SUBNET_SIZE = 24;

export interface TaskNetwork {
  /** Normalized, e.g. "10.88.0.0/16". */
  cidr: string;
  /** Network address as a number (0 to 2^32-1). */
  base: number;
  prefix: number;
  /** Prefix length of each host's range, e.g. 24. */
  hostPrefix: number;
}

/** A range as numbers: [start, end) with end = start + size. */
interface Block {
  start: number;
  end: number;
}

function ipv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return undefined;
    n = n * 256 + Number(p);
  }
  return n;
}

function dotted(n: number): string {
  return [
    Math.floor(n / 2 ** 24) % 256,
    Math.floor(n / 2 ** 16) % 256,
    Math.floor(n / 256) % 256,
    n % 256,
  ].join('.');
}

/** "10.88.3.0/24" as a block, or undefined if it is not IPv4 CIDR. */
export function parseBlock(cidr: string): Block | undefined {
  const [ip, bits, ...rest] = cidr.split('/');
  const n = ip === undefined ? undefined : ipv4(ip);
  const prefix = Number(bits);
  if (n === undefined || rest.length > 0 || !/^\d{1,2}$/.test(bits ?? '') || prefix > 32) return undefined;
  const size = 2 ** (32 - prefix);
  const start = Math.floor(n / size) * size;
  return { start, end: start + size };
}

function isPrivate(b: Block): boolean {
  const within = (net: string): boolean => {
    const r = parseBlock(net);
    return r !== undefined && b.start >= r.start && b.end <= r.end;
  };
  return within('10.0.0.0/8') || within('172.16.0.0/12') || within('192.168.0.0/16');
}

/**
 * Checks and normalizes the task network: a private range (10/8, 172.16/12, 192.168/16) of /8 to
 * /29, and a per-host size from the network's own prefix to /29 (a task range needs a gateway and
 * some addresses). Throws DABBA_E_BAD_REQUEST naming the flag to fix.
 */
export function parseTaskNetwork(
  cidr: string = DEFAULT_TASK_NETWORK,
  hostPrefix: number = DEFAULT_HOST_SUBNET_SIZE,
): TaskNetwork {
  const block = parseBlock(cidr);
  const prefix = Number(cidr.split('/')[1]);
  if (block === undefined || prefix < 8 || prefix > 29) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--task-network "${cidr}" is not an IPv4 CIDR from /8 to /29 (for example 10.88.0.0/16)`,
      { details: { taskNetwork: cidr } },
    );
  }
  if (!isPrivate(block)) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--task-network ${cidr} is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`,
      { details: { taskNetwork: cidr } },
    );
  }
  if (!Number.isInteger(hostPrefix) || hostPrefix < prefix || hostPrefix > 29) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--host-subnet-size ${hostPrefix} does not fit the task network ${cidr}: use a prefix length from ${prefix} to 29`,
      { details: { taskNetwork: cidr, hostSubnetSize: hostPrefix } },
    );
  }
  return { cidr: `${dotted(block.start)}/${prefix}`, base: block.start, prefix, hostPrefix };
}

/** How many host ranges the task network holds. */
export function rangeCount(n: TaskNetwork): number {
  return 2 ** (n.hostPrefix - n.prefix);
}

/**
 * The lowest host range of the network that overlaps none of `taken` (CIDRs; ranges of any size,
 * inside the network or not), or undefined when there is none left.
 */
export function lowestFreeRange(n: TaskNetwork, taken: Iterable<string>): string | undefined {
  const size = 2 ** (32 - n.hostPrefix);
  const end = n.base + 2 ** (32 - n.prefix);
  const blocks = [...taken]
    .map(parseBlock)
    .filter((b): b is Block => b !== undefined && b.end > n.base && b.start < end)
    .sort((a, b) => a.start - b.start);
  let cursor = n.base;
  for (const b of blocks) {
    if (b.end <= cursor) continue;
    if (b.start >= cursor + size) break;
    cursor = Math.ceil(b.end / size) * size;
  }
  return cursor + size <= end ? `${dotted(cursor)}/${n.hostPrefix}` : undefined;
}

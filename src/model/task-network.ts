/**
 * The cluster's task network and its per-host ranges (as Kubernetes' --cluster-cidr and each node's
 * podCIDR): one private IPv4 range, cut into equal blocks of `hostPrefix` bits; each host whose
 * runtime gives tasks addresses holds one block, recorded in the store.
 */
import { DabbaError } from '../errors/index.ts';
import { formatCidr, isPrivateRange, parseCidr, rangeSize, rangesOverlap } from '../lib/ipv4.ts';

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

/**
 * Checks and normalizes the task network: a private range (10/8, 172.16/12, 192.168/16) of /8 to
 * /29, and a per-host size from the network's own prefix to /29 (a task range needs a gateway and
 * some addresses). Throws DABBA_E_BAD_REQUEST naming the flag to fix.
 */
export function parseTaskNetwork(
  cidr: string = DEFAULT_TASK_NETWORK,
  hostPrefix: number = DEFAULT_HOST_SUBNET_SIZE,
): TaskNetwork {
  const block = parseCidr(cidr);
  if (block === undefined || block.prefix < 8 || block.prefix > 29) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--task-network "${cidr}" is not an IPv4 CIDR from /8 to /29 (for example 10.88.0.0/16)`,
      { details: { taskNetwork: cidr } },
    );
  }
  if (!isPrivateRange(block)) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--task-network ${cidr} is not a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)`,
      { details: { taskNetwork: cidr } },
    );
  }
  const { prefix } = block;
  if (!Number.isInteger(hostPrefix) || hostPrefix < prefix || hostPrefix > 29) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `--host-subnet-size ${hostPrefix} does not fit the task network ${cidr}: use a prefix length from ${prefix} to 29`,
      { details: { taskNetwork: cidr, hostSubnetSize: hostPrefix } },
    );
  }
  return { cidr: formatCidr(block), base: block.base, prefix, hostPrefix };
}

/** How many host ranges the task network holds. */
export function rangeCount(n: TaskNetwork): number {
  return rangeSize(n.prefix) / rangeSize(n.hostPrefix);
}

/**
 * The lowest host range of the network that overlaps none of `taken` (CIDRs; ranges of any size,
 * inside the network or not), or undefined when there is none left.
 */
export function lowestFreeRange(n: TaskNetwork, taken: Iterable<string>): string | undefined {
  const size = rangeSize(n.hostPrefix);
  const end = n.base + rangeSize(n.prefix);
  const held: { start: number; end: number }[] = [];
  for (const c of taken) {
    const r = parseCidr(c);
    if (r !== undefined && rangesOverlap(r, n))
      held.push({ start: r.base, end: r.base + rangeSize(r.prefix) });
  }
  held.sort((a, b) => a.start - b.start);
  let cursor = n.base;
  for (const b of held) {
    if (b.end <= cursor) continue;
    if (b.start >= cursor + size) break;
    cursor = Math.ceil(b.end / size) * size;
  }
  return cursor + size <= end ? formatCidr({ base: cursor, prefix: n.hostPrefix }) : undefined;
}

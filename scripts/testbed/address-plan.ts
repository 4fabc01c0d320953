/**
 * Where a testbed lives on this machine: every name and address is derived from its slot.
 *
 * The testbeds share 10.90.0.0/24, cut into SLOT_COUNT slices of /27 so several can run at once
 * (one per test file) without their routes overlapping. Slot k owns 10.90.0.(32k)/27:
 *   bridge  dabbatb<k>           10.90.0.(32k+1)/27  (the server listens here)
 *   host i  netns dabba-tb-<k>-<i>, eth0 10.90.0.(32k+2+i)/27, default route via the bridge;
 *           the other end of its veth pair is dtb<k>h<i>, a port of the bridge
 * Nothing else is used: all traffic stays on the bridge and on loopback.
 */

export const SLOT_COUNT = 8;
export const SLOT_PREFIX_LENGTH = 27;
const SLOT_SIZE = 256 / SLOT_COUNT;
/** Addresses of a /27 less network, broadcast and the bridge. */
export const MAX_HOSTS = SLOT_SIZE - 3;
export const SUPERNET = '10.90.0.0/24';

export interface SlotPlan {
  slot: number;
  bridge: string;
  /** The bridge's address: the server listens here. */
  gateway: string;
  /** e.g. 10.90.0.32/27 */
  subnet: string;
  /** Prefix of the names of this slot's network namespaces. */
  netnsPrefix: string;
  /** Prefix of the names of the bridge-side ends of this slot's veth pairs. */
  vethPrefix: string;
}

export interface HostPlan {
  index: number;
  netns: string;
  /** Bridge-side end of the veth pair (in the root namespace). */
  veth: string;
  /** The namespace's own address (on its eth0). */
  address: string;
}

function ip(last: number): string {
  return `10.90.0.${last}`;
}

export function slotPlan(slot: number): SlotPlan {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) {
    throw new Error(`testbed slot must be 0..${SLOT_COUNT - 1} (got ${slot})`);
  }
  const base = slot * SLOT_SIZE;
  return {
    slot,
    bridge: `dabbatb${slot}`,
    gateway: ip(base + 1),
    subnet: `${ip(base)}/${SLOT_PREFIX_LENGTH}`,
    netnsPrefix: `dabba-tb-${slot}-`,
    vethPrefix: `dtb${slot}h`,
  };
}

export function hostPlan(slot: number, index: number): HostPlan {
  const s = slotPlan(slot);
  if (!Number.isInteger(index) || index < 0 || index >= MAX_HOSTS) {
    throw new Error(`a testbed has at most ${MAX_HOSTS} hosts (host index ${index})`);
  }
  return {
    index,
    netns: `${s.netnsPrefix}${index}`,
    veth: `${s.vethPrefix}${index}`,
    address: ip(slot * SLOT_SIZE + 2 + index),
  };
}

/**
 * Which jobs a scheduler replica may act on, and what its writes for them must carry (see
 * scheduler-loop.ts and shards/).
 */
import type { Compare } from '../store/index.ts';

/** What a write on behalf of a job must carry, and from which revision on the replica may decide. */
export interface JobFence {
  since: number;
  compares: Compare[];
  /** For logs: the shard and the owner's lease the fence is for. */
  shard?: number | string;
  lease?: number;
}

export interface Ownership {
  /** The fence for writes about this job, or undefined when this replica must not act on it now. */
  fenceFor(job: string): JobFence | undefined;
  /**
   * A fence for writes about any job that no other scheduler can pass while it holds (this replica
   * owns every shard), or undefined. Plans written under it skip the per-host placement keys.
   */
  fenceForAll?(): JobFence | undefined;
  /**
   * The fence of the broker shard while this replica owns it (pools and loans are decided there),
   * or undefined. Absent: a lone scheduler, which decides them unfenced.
   */
  fenceForBroker?(): JobFence | undefined;
}

/** A lone scheduler: every job, unfenced. */
export const ownsEverything: Ownership = {
  fenceFor: () => ({ since: 0, compares: [] }),
  fenceForAll: () => ({ since: 0, compares: [] }),
  fenceForBroker: () => ({ since: 0, compares: [] }),
};

/** Pools of hosts and loans between them (`dabba pool ls`, `GET /v1/pools`; docs/elastic.md). */
import type { HostCapacity } from './host.ts';

/** A host loaned out of its pool: the record under /loans/HOST. */
export interface PoolLoan {
  host: string;
  /** The host's own pool. */
  from: string;
  /** The pool that holds it now. */
  holder: string;
  /** Since when (ms since the epoch). */
  start: number;
  /** Set once recalled: the batch tasks on it are being stopped; it is back by `deadline`. */
  recall?: { at: number; deadline: number; reason: string };
}

export interface PoolSummary {
  name: string;
  /** Hosts whose own pool this is, and of them those loaned out. */
  hosts: number;
  loanedOut: number;
  /** Hosts of other pools loaned to this one. */
  loanedIn: number;
  /** Hosts counting in this pool now (own minus loaned out plus loaned in), ready ones, and their capacity. */
  effective: number;
  ready: number;
  capacity: HostCapacity;
}

export interface PoolsView {
  pools: PoolSummary[];
  loans: PoolLoan[];
}

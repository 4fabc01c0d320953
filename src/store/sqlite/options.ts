/** What `SqliteStore.open` takes (sqlite-store.ts). */
import type { Clock, Logger } from '../../lib/index.ts';

export interface SqliteStoreOptions {
  logger?: Logger;
  /**
   * Reads lease expiry times; the expiry timer still uses real timers. When given, a write batch is
   * judged at the time it was sent to the store thread; by default, at the time it runs there.
   */
  clock?: Clock;
  /** Revisions of history kept for watch-from-revision; older ones are compacted. Default 100,000. */
  historyRetention?: number;
  /**
   * Events a live watcher may hold undelivered before it drops them and re-reads from history
   * (bounded memory per slow watcher). Default 10,000.
   */
  watchBufferLimit?: number;
  /** Most write requests committed in one transaction (group commit). Default 1,000. */
  maxBatch?: number;
  /** Most operations in one txn (each of compare, success, failure). Default 10,000. */
  maxTxnOps?: number;
  /**
   * Most operations of bulk txns (`TxnOptions.bulk`) in one commit (the first one waiting is taken
   * whatever its size). Default 1,000: such a commit took 25 ms at the median, 45 ms p90, on the
   * 2-vCPU machine of bench/scale.ts (docs/benchmarks.md), and a read or a deploy waits behind one.
   */
  bulkOpsPerCommit?: number;
  /**
   * Most memory SQLite may use to keep database pages, in MiB (used only as the file grows).
   * Default 64 (SQLite's own default, 2 MiB, makes writes to a store of 100,000 tasks re-read pages:
   * about 5% slower in bench/scale.ts).
   */
  cacheMiB?: number;
  /** Longest wait between two lease expiry checks, in ms (guards against clock jumps). Default 1,000. */
  leaseCheckIntervalMs?: number;
  /**
   * Group commits sent to the store thread before the first of them has come back. Default 2: the
   * store thread starts the next commit at once instead of waiting for this thread to take the last
   * one's result (about 5% more placements per second in bench/scale.ts, docs/benchmarks.md). 1
   * sends one at a time.
   */
  commitsInFlight?: number;
}

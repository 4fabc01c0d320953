/**
 * The control plane's own counters, served at `GET /metrics`: API requests (count by route and
 * status, latency histogram by route), scheduler decisions and their durations, plan writes, watch
 * delay, store call latency, agents connected, and the time-series store's own figures. Parts of the
 * server report here through small methods; gauges are read when scraped.
 */
import { Registry } from './registry.ts';

const WATCH_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ControlPlaneMetrics {
  readonly registry = new Registry();
  readonly #requests = this.registry.requests(
    'dabba_api_requests',
    'API requests answered, by route (METHOD /pattern) and HTTP status code',
    'dabba_api_request_duration_seconds',
    'API request latency (to the end of the answer; streams count to their end), by route',
  );
  readonly #decide = this.registry.histogram(
    'dabba_scheduler_decision_duration_seconds',
    'time of one reconcile decision (the pure part: state in, plan out)',
  );
  readonly #decisions = this.registry.counter(
    'dabba_scheduler_decisions',
    'scheduler decisions: reconciles, and the task changes their plans hold, by kind',
    ['kind'],
  );
  readonly #planWrite = this.registry.histogram(
    'dabba_scheduler_plan_write_duration_seconds',
    'time to write one plan transaction to the store',
  );
  readonly #watchDelay = this.registry.histogram(
    'dabba_scheduler_watch_delay_seconds',
    "time from a plan's commit to the scheduler's watch delivering it (watch lag)",
    [],
    WATCH_BUCKETS,
  );
  readonly #store = this.registry.histogram(
    'dabba_store_operation_duration_seconds',
    'store calls by operation (get, range, txn, ...), to their answer',
    ['op'],
  );
  readonly #storeErrors = this.registry.counter(
    'dabba_store_errors',
    'store calls that failed, by operation',
    ['op'],
  );
  readonly #ingested = this.registry.counter(
    'dabba_metrics_ingested_points',
    'time-series points stored from agents (duplicates not counted)',
  );
  readonly #batches = this.registry.counter('dabba_metrics_ingest_batches', 'ingest batches, by outcome', [
    'outcome',
  ]);
  readonly #forwards = this.registry.counter(
    'dabba_metrics_copy_forwards',
    "ingest batches forwarded to this replica's successor for its copy store, by outcome (copied, duplicate, failed, skipped: the successor failed within the last seconds)",
    ['outcome'],
  );
  readonly #copies = this.registry.counter(
    'dabba_metrics_copy_batches',
    "batches received from other replicas for this replica's copy stores, by outcome",
    ['outcome'],
  );
  /** Commit time of our own recent plan writes, by store revision (for the watch delay). */
  readonly #written = new Map<number, number>();

  request(route: string, code: number, seconds: number): void {
    this.#requests.observe(route, code, seconds);
  }

  decided(seconds: number, plan: { create: number; stop: number; remove: number; rollback: boolean }): void {
    this.#decide.observe([], seconds);
    this.#decisions.inc(['reconcile']);
    if (plan.create > 0) this.#decisions.inc(['create'], plan.create);
    if (plan.stop > 0) this.#decisions.inc(['stop'], plan.stop);
    if (plan.remove > 0) this.#decisions.inc(['remove'], plan.remove);
    if (plan.rollback) this.#decisions.inc(['rollback']);
  }

  planWritten(seconds: number, revision: number, at: number): void {
    this.#planWrite.observe([], seconds);
    if (this.#written.size < 10_000) this.#written.set(revision, at);
  }

  /** The scheduler's watch delivered up to `revision` at `at` (ms, performance.now()). */
  watched(revision: number, at: number): void {
    if (this.#written.size === 0) return;
    for (const [rev, t] of this.#written) {
      if (rev > revision) continue;
      this.#watchDelay.observe([], (at - t) / 1000);
      this.#written.delete(rev);
    }
  }

  storeCall(op: string, seconds: number, failed: boolean): void {
    this.#store.observe([op], seconds);
    if (failed) this.#storeErrors.inc([op]);
  }

  copyForwarded(outcome: 'copied' | 'duplicate' | 'failed' | 'skipped'): void {
    this.#forwards.inc([outcome]);
  }

  copyReceived(duplicate: boolean): void {
    this.#copies.inc([duplicate ? 'duplicate' : 'applied']);
  }

  ingested(points: number, duplicate: boolean): void {
    this.#batches.inc([duplicate ? 'duplicate' : 'applied']);
    if (points > 0) this.#ingested.inc([], points);
  }
}

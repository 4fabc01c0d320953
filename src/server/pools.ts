/**
 * The pools broker (elastic compute, docs/elastic.md): every tick of the scheduler loop, on every
 * replica, it reads the loans (/loans/HOST: from, holder, start, recall) so that the hosts each job
 * sees follow them (a job with a `pool` places only on hosts counting in that pool). On the replica
 * that owns the broker shard it also decides, with the pure `planLoans`: loans online hosts left
 * empty to the batch pool, recalls loans when online tasks wait for a host (the batch tasks there
 * are marked for preemption in the store, and their jobs' owners stop them, like a service's
 * preemption), and ends a recall once its host holds no batch task; every write fenced on the
 * broker shard. All of it is in the store: the replica that takes the broker shard over after a
 * failover carries on with a recall where the previous owner left it.
 */
import type { Logger } from '../lib/index.ts';
import { messageOf } from '../errors/index.ts';
import { keys, type HostView } from '../model/index.ts';
import {
  BATCH_POOL,
  DEFAULT_POOL,
  hostsForPool,
  planLoans,
  type Loan,
  type LoanHost,
} from '../scheduler/index.ts';
import type { Store, TxnOp } from '../store/index.ts';
import type { Preemptions } from './preemptions.ts';
import type { JobFence } from './scheduler-fence.ts';
import type { EventLog } from './state/events.ts';
import type { StateCache } from './state-cache.ts';

export interface PoolsOptions {
  store: Store;
  events: EventLog;
  logger: Logger;
  preemptions: Preemptions;
  /** How long a recall may take (`recallWithin`, default 60 s). */
  recallWithinMs?: number;
}

export class Pools {
  readonly #o: PoolsOptions;
  /** The loans as last read (host -> loan). */
  loans = new Map<string, Loan>();
  #busy = false;

  constructor(o: PoolsOptions) {
    this.#o = o;
  }

  /** The hosts as a job of `pool` must see them (undefined: the job has no pool). */
  hostsFor(hosts: readonly HostView[], pool: string | undefined): HostView[] | undefined {
    return hostsForPool(hosts, pool, this.loans);
  }

  /**
   * One round: read the loans; with the broker's fence (this replica owns the broker shard) decide
   * and write under it. Never throws (a failed round is logged and retried).
   */
  async tick(cache: StateCache, now: number, fence: JobFence | undefined): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await this.#round(cache, now, fence);
    } catch (e) {
      this.#o.logger.warn({ err: messageOf(e) }, 'pools round failed; will retry');
    } finally {
      this.#busy = false;
    }
  }

  async #round(cache: StateCache, now: number, fence: JobFence | undefined): Promise<void> {
    const { store } = this.#o;
    const read = await store.range(keys.loansPrefix);
    const loans = new Map<string, { loan: Loan; mod: number }>();
    for (const kv of read.kvs) {
      const loan = JSON.parse(kv.value) as Loan;
      loans.set(loan.host, { loan, mod: kv.modRevision });
    }
    this.loans = new Map([...loans].map(([h, l]) => [h, l.loan]));
    if (fence === undefined) return;
    // No loan and no batch-pool job: nothing to lend, recall or end (planLoans would say so after
    // a walk over every task and host, each second: 5% of a busy API thread at 100,000 tasks).
    if (this.loans.size === 0 && !hasBatchPoolJob(cache)) return;
    const { hosts, onlineWaiting, batchWaiting, batchTasksOn } = this.#observe(cache);
    const plan = planLoans({
      hosts,
      loans: [...this.loans.values()],
      onlineWaiting,
      batchWaiting,
      now,
      ...(this.#o.recallWithinMs === undefined ? {} : { recallWithinMs: this.#o.recallWithinMs }),
    });
    const ops: TxnOp[] = [];
    const events: { kind: string; message: string; host: string }[] = [];
    for (const l of plan.lend) {
      ops.push({ type: 'put', key: keys.loan(l.host), value: JSON.stringify(l) });
      events.push({
        kind: 'pool.loaned',
        message: `host ${l.host} loaned from pool ${l.from} to ${l.holder}`,
        host: l.host,
      });
    }
    for (const l of plan.recall) {
      ops.push({ type: 'put', key: keys.loan(l.host), value: JSON.stringify(l) });
      events.push({
        kind: 'pool.recalled',
        message: `host ${l.host} recalled to pool ${l.from} (${l.recall?.reason ?? ''}); back by ${new Date(l.recall?.deadline ?? now).toISOString()}`,
        host: l.host,
      });
    }
    for (const h of plan.end) {
      ops.push({ type: 'delete', key: keys.loan(h) });
      const l = this.loans.get(h);
      const took = l?.recall === undefined ? '' : ` after ${now - l.recall.at} ms`;
      events.push({
        kind: 'pool.returned',
        message: `host ${h} is back in pool ${l?.from ?? DEFAULT_POOL}${took}`,
        host: h,
      });
    }
    if (ops.length > 0) {
      const r = await store.txn({
        compare: fence.compares,
        success: [...ops, ...this.#o.events.ops(events)],
      });
      if (r.succeeded) {
        for (const l of [...plan.lend, ...plan.recall]) this.loans.set(l.host, l);
        for (const h of plan.end) this.loans.delete(h);
      }
    }
    // Recalled hosts (new or still recalling): the batch tasks there are preempted.
    for (const l of this.loans.values()) {
      if (l.recall === undefined) continue;
      for (const t of batchTasksOn.get(l.host) ?? [])
        this.#o.preemptions.preempt(t.job, t.id, `host ${l.host} recalled to pool ${l.from}`, now, fence);
    }
  }

  /** Per host: its tasks by kind; the online tasks waiting for a host; the batch tasks per host. */
  #observe(cache: StateCache): {
    hosts: LoanHost[];
    onlineWaiting: number;
    batchWaiting: number;
    batchTasksOn: Map<string, { job: string; id: string }[]>;
  } {
    const counts = new Map<string, { service: number; batch: number }>();
    const batchTasksOn = new Map<string, { job: string; id: string }[]>();
    let onlineWaiting = 0;
    let batchWaiting = 0;
    for (const [name, entry] of cache.jobs) {
      const spec = entry.value.spec;
      const isBatch = spec.batch !== undefined;
      for (const { value: t } of cache.tasks.get(name)?.values() ?? []) {
        if (t.host === null) {
          if (t.desired !== 'run') continue;
          if (spec.pool === BATCH_POOL) batchWaiting++;
          else if (!isBatch && (spec.pool ?? DEFAULT_POOL) === DEFAULT_POOL) onlineWaiting++;
          continue;
        }
        const c = counts.get(t.host) ?? { service: 0, batch: 0 };
        if (isBatch) c.batch++;
        else c.service++;
        counts.set(t.host, c);
        if (isBatch && t.desired === 'run') {
          const list = batchTasksOn.get(t.host) ?? [];
          list.push({ job: name, id: t.id });
          batchTasksOn.set(t.host, list);
        }
      }
    }
    const hosts = cache.fleet().hosts.map((h): LoanHost => {
      const c = counts.get(h.id);
      return {
        id: h.id,
        labels: h.labels,
        state: h.state,
        serviceTasks: c?.service ?? 0,
        batchTasks: c?.batch ?? 0,
      };
    });
    return { hosts, onlineWaiting, batchWaiting, batchTasksOn };
  }
}

function hasBatchPoolJob(cache: StateCache): boolean {
  for (const e of cache.jobs.values()) if (e.value.spec.pool === BATCH_POOL) return true;
  return false;
}

/**
 * The scheduler loop: watches the store, and for each job whose state changed runs the pure
 * `reconcile` and writes its plan in one transaction. Level-triggered: a restart re-lists and
 * carries on from stored state; nothing depends on having seen a particular event.
 */
import { CompactedError, messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { shortId, sleep } from '../lib/index.ts';
import type { JobRecord, JobVersionRecord, Task } from '../model/index.ts';
import { keys, taskIdFor } from '../model/index.ts';
import { reconcile } from '../scheduler/index.ts';
import type { ReconcilePlan } from '../scheduler/index.ts';
import type { Store, TxnOp } from '../store/index.ts';
import type { EventLog } from './state/events.ts';
import { StateCache, isSchedulerKey } from './state-cache.ts';

export interface SchedulerLoopOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  /** Every job is re-evaluated at least this often (deadlines, minimum healthy time). */
  tickMs?: number;
}

export class SchedulerLoop {
  readonly #o: SchedulerLoopOptions;
  readonly cache = new StateCache();
  readonly #dirty = new Set<string>();
  /** Job -> store revision of our last write for it: do not decide again before seeing it. */
  readonly #pending = new Map<string, number>();
  #wake: (() => void) | undefined;
  #ready = false;

  constructor(options: SchedulerLoopOptions) {
    this.#o = options;
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const worker = this.#work(signal);
    while (!signal.aborted) {
      try {
        await this.#syncAndWatch(signal);
      } catch (e) {
        if (signal.aborted) break;
        this.#o.logger.warn(
          { err: messageOf(e), compacted: e instanceof CompactedError },
          'scheduler watch ended; re-listing',
        );
        await sleep(200, signal);
      }
    }
    this.#wake?.();
    await worker;
  }

  async #syncAndWatch(signal: AbortSignal): Promise<void> {
    this.#ready = false;
    const { kvs, revision } = await this.#o.store.range('/');
    this.cache.clear();
    for (const kv of kvs) if (isSchedulerKey(kv.key)) this.cache.apply(kv.key, kv);
    this.cache.revision = revision;
    this.#pending.clear();
    for (const name of this.cache.jobs.keys()) this.#dirty.add(name);
    this.#ready = true;
    this.#wake?.();
    for await (const batch of this.#o.store.watch('/', { fromRevision: revision + 1, signal })) {
      for (const e of batch) {
        if (!isSchedulerKey(e.kv.key)) continue;
        const job = this.cache.applyEvent(e);
        if (job === '*') for (const name of this.cache.jobs.keys()) this.#dirty.add(name);
        else if (job !== undefined) this.#dirty.add(job);
      }
      const rev = batch[0]?.kv.modRevision;
      if (rev !== undefined) this.cache.revision = rev;
      this.#wake?.();
    }
  }

  async #work(signal: AbortSignal): Promise<void> {
    const tickMs = this.#o.tickMs ?? 1000;
    let lastTick = 0;
    while (!signal.aborted) {
      const now = this.#o.clock.now();
      if (now - lastTick >= tickMs) {
        lastTick = now;
        for (const [name, j] of this.cache.jobs) {
          if (j.value.status === 'active' || (this.cache.tasks.get(name)?.size ?? 0) > 0)
            this.#dirty.add(name);
        }
      }
      if (this.#ready) {
        for (const job of [...this.#dirty]) {
          if (signal.aborted) break;
          const pendingRev = this.#pending.get(job);
          if (pendingRev !== undefined && this.cache.revision < pendingRev) continue;
          this.#dirty.delete(job);
          this.#pending.delete(job);
          try {
            await this.#reconcileJob(job);
          } catch (e) {
            this.#o.logger.error({ err: e, job }, 'reconcile failed; will retry');
            this.#dirty.add(job);
          }
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(tickMs, 250));
        this.#wake = done;
        function done(): void {
          clearTimeout(t);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
      this.#wake = undefined;
    }
  }

  async #reconcileJob(name: string): Promise<void> {
    const entry = this.cache.jobs.get(name);
    if (!entry) return;
    const job = entry.value;
    const versions = [...(this.cache.versions.get(name)?.values() ?? [])].sort(
      (a, b) => a.version - b.version,
    );
    const lastGood = this.cache.lastGoodVersion(name, job.version);
    const plan = reconcile({
      job,
      versions,
      tasks: this.cache.taskViews(name),
      hosts: this.cache.hostViews(),
      deployment: this.cache.deployments.get(name)?.get(job.version),
      otherDeployments: [...(this.cache.deployments.get(name)?.values() ?? [])].filter(
        (d) => d.version !== job.version,
      ),
      now: this.#o.clock.now(),
      newTaskId: () => taskIdFor(name, shortId()),
      ...(lastGood === undefined ? {} : { lastGoodVersion: lastGood }),
    });
    const ops = this.#planOps(job, plan, entry.mod, versions);
    if (ops.length === 0) return;
    const r = await this.#o.store.txn({
      // Fence: the plan was made from this version of the job record.
      compare: [{ key: keys.job(name), target: 'mod', op: '=', modRevision: entry.mod }],
      success: ops,
    });
    if (r.succeeded) {
      this.#pending.set(name, r.revision);
      for (const ev of plan.events) this.#o.logger.info({ job: name, kind: ev.kind }, ev.message);
    } else {
      this.#dirty.add(name);
    }
  }

  #planOps(job: JobRecord, plan: ReconcilePlan, jobMod: number, versions: JobVersionRecord[]): TxnOp[] {
    const ops: TxnOp[] = [];
    const name = job.name;
    const current = this.cache.tasks.get(name);
    const put = (key: string, value: unknown): void => {
      ops.push({ type: 'put', key, value: JSON.stringify(value) });
    };
    for (const t of plan.create) {
      const before = current?.get(t.id)?.value;
      if (before?.host && before.host !== t.host)
        ops.push({ type: 'delete', key: keys.assignment(before.host, t.id) });
      put(keys.task(name, t.id), t);
      if (t.host !== null) put(keys.assignment(t.host, t.id), t);
    }
    for (const id of plan.stop) {
      const t = current?.get(id)?.value;
      if (!t || t.desired === 'stop') continue;
      const stopped: Task = { ...t, desired: 'stop' };
      put(keys.task(name, id), stopped);
      if (t.host !== null) put(keys.assignment(t.host, id), stopped);
    }
    for (const id of plan.remove) {
      const t = current?.get(id)?.value;
      if (!t) continue;
      ops.push({ type: 'delete', key: keys.task(name, id) });
      if (t.host !== null) ops.push({ type: 'delete', key: keys.assignment(t.host, id) });
      ops.push({ type: 'delete', key: keys.status(name, id) });
    }
    for (const d of [...plan.supersede, ...(plan.deployment ? [plan.deployment] : [])]) {
      put(keys.deployment(name, d.version), d);
    }
    if (plan.rollbackTo !== undefined) {
      const target = versions.find((v) => v.version === plan.rollbackTo);
      if (target) {
        const now = this.#o.clock.now();
        const version = job.version + 1;
        const record: JobRecord = { ...job, version, spec: target.spec, updatedAt: now };
        put(keys.job(name), record);
        put(keys.jobVersion(name, version), {
          name,
          version,
          spec: target.spec,
          createdAt: now,
        } satisfies JobVersionRecord);
      }
    }
    void jobMod;
    if (ops.length > 0) {
      ops.push(...this.#o.events.ops(plan.events.map((e) => ({ ...e, job: name }))));
    }
    return ops;
  }
}

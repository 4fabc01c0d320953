/**
 * The scheduler loop: watches the store, and for each job whose state changed runs the pure
 * `reconcile` and writes its plan in one transaction. Level-triggered: a restart re-lists and
 * carries on from stored state; nothing depends on having seen a particular event.
 *
 * With several replicas it acts only on the jobs whose shard this replica owns (`Ownership`), and
 * every plan transaction also compares the shard's fence, so a replica that lost a shard cannot write
 * for it even before it notices. A newly acquired shard is decided only from a cache at least as new
 * as its acquisition, which includes every write of the previous owner: the new owner continues a
 * rollout from stored state. Plans that place tasks on a host also compare and bump that host's
 * placement key, so two shards never fill the same free capacity (or host port) at once; a replica
 * that owns every shard (the usual lone server) fences on all of them instead and skips those keys.
 */
import { CompactedError, isStorageError, messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { shortId, sleep } from '../lib/index.ts';
import type { JobRecord, Task } from '../model/index.ts';
import { keys, taskIdFor } from '../model/index.ts';
import { reconcile } from '../scheduler/index.ts';
import type { Store } from '../store/index.ts';
import { TaskControl } from '../taskcontrol/index.ts';
import type { EventLog } from './state/events.ts';
import { PlanWriter, TXN_HEADROOM } from './plan-writer.ts';
import { Pools } from './pools.ts';
import { Preemptions, byRank } from './preemptions.ts';
import { jobAsScheduled } from './scaling.ts';
import { ownsEverything, type JobFence, type Ownership } from './scheduler-fence.ts';
import { StateCache, isSchedulerKey } from './state-cache.ts';

export type { JobFence, Ownership } from './scheduler-fence.ts';

/** Where the loop reports its decisions and timings (the control plane's metrics). */
export interface SchedulerMetrics {
  decided(seconds: number, plan: { create: number; stop: number; remove: number; rollback: boolean }): void;
  planWritten(seconds: number, revision: number, at: number): void;
  watched(revision: number, at: number): void;
}

export interface SchedulerLoopOptions {
  metrics?: SchedulerMetrics;
  store: Store;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  /**
   * How often the loop looks at the clock: jobs whose last plan asked to be woken by now (minimum
   * healthy time, deadlines, drain deadlines), jobs with unplaced or stopping tasks, and stopped jobs with tasks left, are decided again.
   */
  tickMs?: number;
  /** Every active job is decided again at least this often, whatever it asked (a safety net). */
  resyncMs?: number;
  /** Which jobs this replica may act on. Default: every job, unfenced (a lone scheduler). */
  ownership?: Ownership;
  /** Written into placement keys, for people reading the store. */
  replicaId?: string;
  /** Time between requests to a job's TaskControl controller while operations wait (default 1 s). */
  taskControlRetryMs?: number;
  /** How long recalling a loaned host may take (`recallWithin`, default 60 s; docs/elastic.md). */
  recallWithinMs?: number;
  /** Replicas of jobs scaled by a metric (src/server/autoscaler.ts). */
  autoscale?: { replicasFor(job: JobRecord): number | undefined };
}

/** Operations of plans written at once without waiting (bounds one group commit's size). */
const MAX_INFLIGHT_OPS = 5000;
/** Longest stretch (ms) of deciding jobs before the loop waits for their writes and yields. */
const SLICE_MS = 25;

/**
 * True when one of the job's tasks waits for a host (capacity may have been freed by others) or is
 * being stopped: such jobs are looked at every tick, not only on events.
 */
function inTransition(tasks: ReadonlyMap<string, { value: Task }> | undefined): boolean {
  for (const e of tasks?.values() ?? []) {
    if (e.value.desired === 'stop' || e.value.host === null) return true;
  }
  return false;
}

export class SchedulerLoop {
  readonly #o: SchedulerLoopOptions;
  readonly cache = new StateCache();
  readonly #dirty = new Set<string>();
  /** Job -> store revision of our last write for it: do not decide again before seeing it. */
  readonly #pending = new Map<string, number>();
  /** Job -> when its last plan asked to be decided again (`ReconcilePlan.wakeAt`). */
  readonly #wakeAt = new Map<string, number>();
  /** Host -> store revision of our last placement there: plan for it only from a cache that saw it. */
  readonly #placedAt = new Map<string, number>();
  readonly #ownership: Ownership;
  #wake: (() => void) | undefined;
  /** Set when there was something new while the worker was busy: its next pass starts at once. */
  #kicked = false;
  #ready = false;

  /** Jobs' external controllers (taskControl in the job file): asked before disruptive stops. */
  readonly taskControl: TaskControl;
  /** Batch tasks preempted for services, and the room reserved for them (docs/batch.md). */
  readonly preemptions: Preemptions;
  /** Pools and loans of hosts (elastic compute). */
  readonly pools: Pools;

  readonly #writer: PlanWriter;

  constructor(options: SchedulerLoopOptions) {
    this.#o = options;
    this.#ownership = options.ownership ?? ownsEverything;
    this.#writer = new PlanWriter({
      store: options.store,
      cache: this.cache,
      clock: options.clock,
      logger: options.logger,
      events: options.events,
      metrics: options.metrics,
      replicaId: options.replicaId,
      dirty: this.#dirty,
      pending: this.#pending,
      placedAt: this.#placedAt,
    });
    this.preemptions = new Preemptions({
      store: options.store,
      logger: options.logger.child({ part: 'preemptions' }),
    });
    this.pools = new Pools({
      store: options.store,
      events: options.events,
      logger: options.logger.child({ part: 'pools' }),
      preemptions: this.preemptions,
      ...(options.recallWithinMs === undefined ? {} : { recallWithinMs: options.recallWithinMs }),
    });
    this.taskControl = new TaskControl({
      clock: options.clock,
      logger: options.logger.child({ part: 'taskcontrol' }),
      ...(options.taskControlRetryMs === undefined ? {} : { retryMs: options.taskControlRetryMs }),
      onAck: (job) => {
        this.#dirty.add(job);
        this.#kick();
      },
      publish: (job, state) => {
        const key = keys.taskControl(job);
        const write =
          state === undefined ? options.store.delete(key) : options.store.put(key, JSON.stringify(state));
        write.catch((e: unknown) =>
          options.logger.debug({ job, err: messageOf(e) }, 'taskcontrol state not written'),
        );
      },
    });
  }

  /** Something outside the store changed what the job should run (the autoscaler): decide it again. */
  jobChanged(name: string): void {
    this.#dirty.add(name);
    this.#kick();
  }

  /** Shards were acquired: look at every job again (those not owned are skipped). */
  ownershipChanged(): void {
    for (const name of this.cache.jobs.keys()) this.#dirty.add(name);
    this.#kick();
  }

  /** Wakes the worker, or, while it is busy, makes its next wait return at once (no lost wake-up). */
  #kick(): void {
    this.#kicked = true;
    this.#wake?.();
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
    this.taskControl.close();
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
    this.#kick();
    for await (const batch of this.#o.store.watch('/', { fromRevision: revision + 1, signal })) {
      for (const e of batch) {
        if (!isSchedulerKey(e.kv.key)) continue;
        const job = this.cache.applyEvent(e);
        if (job === '*') for (const name of this.cache.jobs.keys()) this.#dirty.add(name);
        else if (job !== undefined) this.#dirty.add(job);
      }
      // A batch may hold several revisions (a group commit, several plans at once): the cache has
      // seen up to the last one. (Taking the first left jobs waiting for a revision already seen,
      // until some unrelated write came.)
      const rev = batch.at(-1)?.kv.modRevision;
      if (rev !== undefined) this.cache.revision = rev;
      if (rev !== undefined) this.#o.metrics?.watched(rev, performance.now());
      this.#kick();
    }
  }

  async #work(signal: AbortSignal): Promise<void> {
    const tickMs = this.#o.tickMs ?? 1000;
    const resyncMs = this.#o.resyncMs ?? 30_000;
    let lastTick = 0;
    let lastResync = 0;
    while (!signal.aborted) {
      this.#kicked = false;
      const now = this.#o.clock.now();
      if (now - lastTick >= tickMs) {
        lastTick = now;
        // Loans of hosts between pools (read by all, decided by the broker shard's owner) and the
        // preemptions (read by all): the store's, so they survive a failover.
        if (this.#ready) {
          const o = this.#ownership;
          const broker = o.fenceForBroker ? o.fenceForBroker() : o.fenceForAll?.();
          this.pools.tick(this.cache, now, broker).catch(() => undefined);
          void this.preemptions.sync(this.cache, now, (job) => this.#ownership.fenceFor(job));
        }
        for (const name of this.preemptions.pendingJobs()) this.#dirty.add(name);
        const resync = now - lastResync >= resyncMs;
        if (resync) lastResync = now;
        for (const [name, j] of this.cache.jobs) {
          if (this.#dirty.has(name)) continue;
          const tasks = this.cache.tasks.get(name);
          if (j.value.status !== 'active' && (tasks?.size ?? 0) === 0) continue;
          const wake = this.#wakeAt.get(name);
          if (
            resync ||
            (wake !== undefined && wake <= now) ||
            j.value.status !== 'active' ||
            inTransition(tasks)
          )
            this.#dirty.add(name);
        }
      }
      if (this.#ready) {
        // Plans written under a fence on every shard go out without waiting for each other: the
        // next job is decided while earlier plans are still being written (their placements are
        // reserved in the cache meanwhile), and the store commits them together.
        const inflight: Promise<void>[] = [];
        let inflightOps = 0;
        let sliceStart = performance.now();
        const exclusive = this.#exclusiveFence();
        for (const job of byRank([...this.#dirty], this.cache)) {
          if (signal.aborted) break;
          const fence = this.#ownership.fenceFor(job);
          if (fence === undefined) {
            this.#dirty.delete(job);
            this.#pending.delete(job);
            continue;
          }
          if (this.cache.revision < fence.since) continue;
          const pendingRev = this.#pending.get(job);
          if (pendingRev !== undefined && this.cache.revision < pendingRev) continue;
          this.#dirty.delete(job);
          this.#pending.delete(job);
          const written = { ops: 0 };
          const p = this.#reconcileJob(job, fence, exclusive, written, signal).catch((e: unknown) => {
            // A full or read-only disk is said once by the storage guard, not per job and pass.
            if (isStorageError(e))
              this.#o.logger.debug({ code: e.code, job }, 'plan not written; will retry');
            else this.#o.logger.error({ err: e, job }, 'reconcile failed; will retry');
            this.#dirty.add(job);
          });
          if (exclusive === undefined) {
            await p;
            continue;
          }
          inflight.push(p);
          inflightOps += written.ops;
          if (inflightOps >= MAX_INFLIGHT_OPS || performance.now() - sliceStart >= SLICE_MS) {
            // Let the store commit them, and the API and the watch have their turn.
            await Promise.all(inflight);
            inflight.length = 0;
            inflightOps = 0;
            sliceStart = performance.now();
          }
        }
        await Promise.all(inflight);
      }
      if (this.#kicked) {
        // Let the watch and the API have their turn before the next pass.
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, Math.min(tickMs, 250));
        this.#wake = done;
        function done(): void {
          clearTimeout(t);
          // Without this every wait would leave a listener on the signal (thousands in a busy run).
          signal.removeEventListener('abort', done);
          resolve();
        }
        signal.addEventListener('abort', done, { once: true });
      });
      this.#wake = undefined;
    }
  }

  /**
   * The fence on every shard, when this replica owns them all, its cache has seen the last of them
   * taken (so every earlier owner's placements are in it: the exclusive path does not compare
   * per-host placement keys), and its compares fit in one transaction with room for the plan
   * (etcd takes 128 operations: 64 shards already need 128 compares). Otherwise undefined: plans
   * then fence on their job's shard and compare placement keys.
   */
  #exclusiveFence(): JobFence | undefined {
    const all = this.#ownership.fenceForAll?.();
    if (all === undefined || this.cache.revision < all.since) return undefined;
    if (all.compares.length + 1 + TXN_HEADROOM * 2 > this.#o.store.maxTxnOps) return undefined;
    return all;
  }

  /**
   * Decides one job and writes its plan. Everything up to the first transaction runs before this
   * returns its promise (so several jobs' plans can be queued together); `written.ops` then holds
   * the size of that transaction. With `exclusive` (a fence on every shard) the plan's placements
   * are reserved in the cache until its writes are seen, instead of per-host placement keys.
   */
  async #reconcileJob(
    name: string,
    fence: JobFence,
    exclusive: JobFence | undefined,
    written: { ops: number },
    signal?: AbortSignal,
  ): Promise<void> {
    const entry = this.cache.jobs.get(name);
    if (!entry) {
      this.#wakeAt.delete(name);
      this.taskControl.forget(name);
      return;
    }
    // A job with `scaling` runs the replicas its schedule (or the autoscaler) gives now.
    const scheduled = jobAsScheduled(
      entry.value,
      this.#o.clock.now(),
      this.#o.autoscale?.replicasFor(entry.value),
    );
    const job = scheduled.job;
    const versions = [...(this.cache.versions.get(name)?.values() ?? [])].sort(
      (a, b) => a.version - b.version,
    );
    const lastGood = this.cache.lastGoodVersion(name, job.version);
    const fleet = this.cache.fleet();
    const decideAt = performance.now();
    const now = this.#o.clock.now();
    const tasks = this.cache.taskViews(name);
    const controlled = job.spec.taskControl !== undefined && job.status === 'active';
    if (!controlled) this.taskControl.forget(name);
    const holdLost = controlled ? this.taskControl.before(job, tasks, fleet, now) : undefined;
    const volumes = this.cache.volumes.get(name);
    // A batch job sees the room reserved for services as taken, and stops what they preempted.
    const batch = job.spec.batch !== undefined;
    const poolView = this.pools.hostsFor(fleet.hosts, job.spec.pool);
    const reservedView =
      (batch ? this.preemptions.hostsForBatch(poolView ?? fleet.hosts, now) : undefined) ?? poolView;
    const preempt = batch ? this.preemptions.forBatch(name) : undefined;
    const decided = reconcile({
      job,
      versions,
      tasks,
      ...(reservedView === undefined ? { hosts: fleet.hosts, fleet } : { hosts: reservedView }),
      ...(preempt === undefined ? {} : { preempt }),
      deployment: this.cache.deployments.get(name)?.get(job.version),
      otherDeployments: [...(this.cache.deployments.get(name)?.values() ?? [])].filter(
        (d) => d.version !== job.version,
      ),
      now,
      newTaskId: () => taskIdFor(name, shortId()),
      ...(lastGood === undefined ? {} : { lastGoodVersion: lastGood }),
      ...(holdLost === undefined ? {} : { holdLost }),
      ...(volumes === undefined ? {} : { volumes: [...volumes.values()] }),
    });
    // A job with a controller: the stops it has not acknowledged wait (taskcontrol/).
    const plan = controlled ? this.taskControl.gate(job, decided, tasks, now) : decided;
    if (batch) this.preemptions.stopped(name, plan);
    else if (job.status === 'active') {
      for (const victim of this.preemptions.afterService(
        job,
        plan,
        this.cache,
        poolView ?? fleet.hosts,
        now,
        fence,
      )) {
        this.#dirty.add(victim);
        this.#kick();
      }
    }
    this.#o.metrics?.decided((performance.now() - decideAt) / 1000, {
      create: plan.create.length,
      stop: plan.stop.length,
      remove: plan.remove.length,
      rollback: plan.rollbackTo !== undefined,
    });
    const wakeAt = Math.min(plan.wakeAt ?? Infinity, scheduled.nextChange ?? Infinity);
    if (wakeAt === Infinity) this.#wakeAt.delete(name);
    else this.#wakeAt.set(name, wakeAt);
    // A store takes at most `maxTxnOps` operations (or compares) per txn (etcd: 128 by default): a
    // big plan is written in parts, one transaction each, in order. Applying part of a plan is fine: if a part fails (the
    // state moved), the job is reconciled again from what was written. Later parts compare each
    // host's placement key with the revision of the part that placed there, so nobody else can
    // have filled those hosts in between.
    // A replica that owns every shard writes under a fence on all of them: nobody else can place
    // tasks meanwhile, so the per-host placement keys are not needed; the plan's placements are
    // reserved in the cache instead, until its writes come back through the watch.
    if (exclusive === undefined) {
      await this.#writer.write(name, entry.mod, job, plan, versions, fence, undefined, written, signal);
      return;
    }
    this.cache.reserve(plan.create);
    let created = 0;
    try {
      created = await this.#writer.write(
        name,
        entry.mod,
        job,
        plan,
        versions,
        fence,
        exclusive,
        written,
        signal,
      );
    } finally {
      // What was not written (a part failed, or the loop stopped) gives its capacity back.
      this.cache.unreserve(plan.create.slice(created));
    }
  }
}

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
import type { JobRecord, JobVersionRecord, Task } from '../model/index.ts';
import { keys, taskIdFor } from '../model/index.ts';
import { reconcile } from '../scheduler/index.ts';
import type { ReconcilePlan } from '../scheduler/index.ts';
import type { Compare, Store, TxnOp } from '../store/index.ts';
import { TaskControl } from '../taskcontrol/index.ts';
import { haKeys } from './shards/keys.ts';
import type { EventLog } from './state/events.ts';
import { Pools } from './pools.ts';
import { Preemptions, byRank } from './preemptions.ts';
import { jobAsScheduled } from './scaling.ts';
import { StateCache, isSchedulerKey } from './state-cache.ts';

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
}

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
}

const ownsEverything: Ownership = {
  fenceFor: () => ({ since: 0, compares: [] }),
  fenceForAll: () => ({ since: 0, compares: [] }),
};

/** Room left in a plan transaction for the fence's compares and the job's own compare. */
const TXN_HEADROOM = 8;
/** A task record a plan writes, with the object its JSON encodes (see `StateCache.expect`). */
interface Decoded {
  key: string;
  value: string;
  object: Task;
}

/** Operations of plans written at once without waiting (bounds one group commit's size). */
const MAX_INFLIGHT_OPS = 5000;
/** Longest stretch (ms) of deciding jobs before the loop waits for their writes and yields. */
const SLICE_MS = 25;
/** Events written with one plan (a 100-task deploy says so in a few lines, not a hundred). */
const MAX_EVENTS_PER_PLAN = 10;

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

function hostsOf(plan: ReconcilePlan): string[] {
  return [...new Set(plan.create.flatMap((t) => (t.host === null ? [] : [t.host])))];
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
  readonly preemptions = new Preemptions();
  /** Pools and loans of hosts (elastic compute). */
  readonly pools: Pools;

  constructor(options: SchedulerLoopOptions) {
    this.#o = options;
    this.#ownership = options.ownership ?? ownsEverything;
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
        // Loans of hosts between pools: the replica that owns every shard keeps them.
        if (this.#ready && this.#ownership.fenceForAll?.() !== undefined)
          this.pools.tick(this.cache, now).catch(() => undefined);
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
    // A job with `scaling` runs the replicas its schedule gives now (the loop's clock).
    const scheduled = jobAsScheduled(entry.value, this.#o.clock.now());
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
      await this.#writePlan(name, entry.mod, job, plan, versions, fence, undefined, written, signal);
      return;
    }
    this.cache.reserve(plan.create);
    let created = 0;
    try {
      created = await this.#writePlan(
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

  /** Writes the plan in parts; returns how many of its creates were written (a prefix). */
  async #writePlan(
    name: string,
    jobMod: number,
    job: JobRecord,
    plan: ReconcilePlan,
    versions: JobVersionRecord[],
    fence: JobFence,
    exclusive: JobFence | undefined,
    written: { ops: number },
    signal?: AbortSignal,
  ): Promise<number> {
    const writeFence = exclusive ?? fence;
    // What the plan was decided from: later parts compare with this, not with a cache that moved on
    // while earlier parts were written.
    const planRevision = this.cache.revision;
    let created = 0;
    const seenPlacements = new Map(hostsOf(plan).map((h) => [h, this.cache.placements.get(h) ?? 0]));
    let rest = plan;
    let first = true;
    /** Placement-key mod revisions written by earlier parts of this plan. */
    const placedHere = new Map<string, number>();
    for (;;) {
      const {
        part,
        ops,
        placed: hosts,
        decoded,
      } = this.#firstPart(job, rest, versions, writeFence, exclusive !== undefined);
      if (ops.length === 0) return created;
      const placed = exclusive === undefined ? hosts : [];
      if (
        exclusive === undefined &&
        hosts.some((h) => !placedHere.has(h) && (this.#placedAt.get(h) ?? 0) > planRevision)
      ) {
        // Our own last placement on one of these hosts is not in the cache yet: wait for it.
        this.#dirty.add(name);
        return created;
      }
      const compare: Compare[] = [
        // The plan was made from this version of the job record...
        { key: keys.job(name), target: 'mod', op: '=', modRevision: jobMod },
        // ...by the owner of the job's shard (or of every shard)...
        ...writeFence.compares,
        // ...from these placements on its hosts.
        ...placed.map((h): Compare => ({
          key: haKeys.placement(h),
          target: 'mod',
          op: '=',
          modRevision: placedHere.get(h) ?? seenPlacements.get(h) ?? 0,
        })),
      ];
      const marker = JSON.stringify({ job: name, replica: this.#o.replicaId ?? '' });
      for (const h of placed) ops.push({ type: 'put', key: haKeys.placement(h), value: marker });
      if (first) written.ops = ops.length;
      // Not decided again before this write is seen (or has failed).
      this.#pending.set(name, Number.POSITIVE_INFINITY);
      this.cache.expect(decoded);
      const writeAt = performance.now();
      const r = await this.#o.store.txn({ compare, success: ops }).catch((e: unknown) => {
        this.#pending.delete(name);
        this.cache.unexpect(decoded.map((d) => d.key));
        throw e;
      });
      if (!r.succeeded) {
        this.#pending.delete(name);
        this.cache.unexpect(decoded.map((d) => d.key));
        this.#dirty.add(name);
        return created;
      }
      created += part.create.length;
      this.#o.metrics?.planWritten((performance.now() - writeAt) / 1000, r.revision, performance.now());
      this.#pending.set(name, r.revision);
      for (const h of hosts) {
        this.#placedAt.set(h, r.revision);
        placedHere.set(h, r.revision);
      }
      this.#o.logger.debug(
        { job: name, revision: r.revision, shard: writeFence.shard, lease: writeFence.lease },
        'plan written',
      );
      if (first) for (const ev of part.events) this.#o.logger.info({ job: name, kind: ev.kind }, ev.message);
      rest = {
        ...rest,
        create: rest.create.slice(part.create.length),
        stop: rest.stop.slice(part.stop.length),
        remove: rest.remove.slice(part.remove.length),
        // Records, events and a rollback go with the first part only.
        deployment: undefined,
        supersede: [],
        volumes: [],
        events: [],
      };
      delete rest.rollbackTo;
      const more = rest.create.length + rest.stop.length + rest.remove.length > 0;
      if (!more) return created;
      if (first && plan.rollbackTo !== undefined) {
        // The job record changed: decide again from it.
        this.#dirty.add(name);
        return created;
      }
      first = false;
      if (signal?.aborted) return created;
    }
  }

  /** The largest leading part of `plan` (halving from a bound) whose transaction fits the store's limit. */
  #firstPart(
    job: JobRecord,
    plan: ReconcilePlan,
    versions: JobVersionRecord[],
    fence: JobFence,
    unfencedHosts: boolean,
  ): { part: ReconcilePlan; ops: TxnOp[]; placed: string[]; decoded: Decoded[] } {
    const max = Math.max(4, this.#o.store.maxTxnOps - TXN_HEADROOM);
    // A create takes at least two operations and a remove three: no part can hold more than this.
    const bound = Math.floor(max / 2);
    let part: ReconcilePlan =
      plan.create.length + plan.stop.length + plan.remove.length > bound
        ? {
            ...plan,
            create: plan.create.slice(0, bound),
            stop: plan.stop.slice(0, bound),
            remove: plan.remove.slice(0, bound),
          }
        : plan;
    let decoded: Decoded[] = [];
    let ops = this.#planOps(job, part, versions, decoded);
    let placed = hostsOf(part);
    const fenced = (): number => (unfencedHosts ? 0 : placed.length);
    while (ops.length + fenced() > max || fenced() + 2 + fence.compares.length > max) {
      const size = part.create.length + part.stop.length + part.remove.length;
      if (size <= 1) break;
      part = {
        ...part,
        create: part.create.slice(0, Math.ceil(part.create.length / 2)),
        stop: part.stop.slice(0, Math.ceil(part.stop.length / 2)),
        remove: part.remove.slice(0, Math.ceil(part.remove.length / 2)),
      };
      decoded = [];
      ops = this.#planOps(job, part, versions, decoded);
      placed = hostsOf(part);
    }
    return { part, ops, placed, decoded };
  }

  /** The plan's operations; the task records it writes go to `decoded` with their objects. */
  #planOps(job: JobRecord, plan: ReconcilePlan, versions: JobVersionRecord[], decoded: Decoded[]): TxnOp[] {
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
      // The task record and its assignment hold the same JSON: encode it once.
      const value = JSON.stringify(t);
      decoded.push({ key: keys.task(name, t.id), value, object: t });
      ops.push({ type: 'put', key: keys.task(name, t.id), value });
      if (t.host !== null) ops.push({ type: 'put', key: keys.assignment(t.host, t.id), value });
    }
    for (const id of plan.stop) {
      const t = current?.get(id)?.value;
      if (!t || t.desired === 'stop') continue;
      const why = plan.preempted?.[id];
      const stopped: Task = { ...t, desired: 'stop', ...(why === undefined ? {} : { preempted: why }) };
      const value = JSON.stringify(stopped);
      decoded.push({ key: keys.task(name, id), value, object: stopped });
      ops.push({ type: 'put', key: keys.task(name, id), value });
      if (t.host !== null) ops.push({ type: 'put', key: keys.assignment(t.host, id), value });
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
    for (const v of plan.volumes ?? []) put(keys.volume(name, v.slot), v);
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
    if (ops.length > 0) {
      const shown = plan.events.slice(0, MAX_EVENTS_PER_PLAN);
      if (plan.events.length > shown.length) {
        shown.push({ kind: 'plan.more', message: `and ${plan.events.length - shown.length} more changes` });
      }
      ops.push(...this.#o.events.ops(shown.map((e) => ({ ...e, job: name }))));
    }
    return ops;
  }
}

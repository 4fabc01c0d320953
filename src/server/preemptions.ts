/**
 * Preemption across jobs, for the scheduler loop: after a service's pass leaves tasks without a
 * host, the pure `planPreemption` picks batch tasks to stop; each victim's batch job then stops it
 * in its own pass (`ReconcileInput.preempt`: SIGTERM, grace period; its completion runs again
 * later). Until the service's tasks are placed (or RESERVE_MS passes), the room its victims free is
 * reserved for it: batch jobs see it as allocated, so they do not take it back first.
 *
 * The marks and reservations are the cluster's, in the store (preemption-store.ts): written under
 * the deciding replica's fence, read back by every replica each tick (`sync`). So the replica that
 * owns a victim's job stops it even when another replica decided it, and a replica that takes over
 * a shard (a failover) finishes what the previous owner began. What a replica holds here is its
 * copy of the store's, plus what it decided since its last read.
 */
import type { Logger } from '../lib/index.ts';
import type { HostView, JobRecord, ResourceSpec, Task } from '../model/index.ts';
import { keys } from '../model/index.ts';
import { planPreemption, type PreemptionCandidate, type ReconcilePlan } from '../scheduler/index.ts';
import type { Store, TxnOp } from '../store/index.ts';
import { putReservation, putVictim, readPreemptions, writeFenced } from './preemption-store.ts';
import type { JobFence } from './scheduler-fence.ts';
import type { StateCache } from './state-cache.ts';

/** How long the room freed for a service stays reserved for it at most. */
export const RESERVE_MS = 120_000;

interface Reservation {
  until: number;
  hosts: Map<string, ResourceSpec>;
}

function add(a: ResourceSpec | undefined, b: ResourceSpec): ResourceSpec {
  if (a === undefined) return { ...b };
  return { cpu: a.cpu + b.cpu, memoryBytes: a.memoryBytes + b.memoryBytes, pids: a.pids + b.pids };
}

export interface PreemptionsOptions {
  store: Store;
  logger: Logger;
}

export class Preemptions {
  /** Batch job -> its tasks to preempt -> why. */
  #victims = new Map<string, Map<string, string>>();
  /** Service job -> the room its victims free. */
  #reserved = new Map<string, Reservation>();
  readonly #o: PreemptionsOptions | undefined;
  #syncing = false;
  /** While a sync reads: what was decided meanwhile, applied again over what it read. */
  #replay: ((victims: Map<string, Map<string, string>>, reserved: Map<string, Reservation>) => void)[] = [];

  /** Without options: memory only (pure tests of the decisions). */
  constructor(o?: PreemptionsOptions) {
    this.#o = o;
  }

  /**
   * Reads the stored marks and reservations, which replace what this replica held. Marks of tasks
   * gone, already stopping or preempted are deleted by the replica owning their job; reservations
   * past their time by the replica owning the service. Never throws (the next tick tries again).
   */
  async sync(cache: StateCache, now: number, fenceFor: (job: string) => JobFence | undefined): Promise<void> {
    const o = this.#o;
    if (o === undefined || this.#syncing) return;
    this.#syncing = true;
    this.#replay = [];
    try {
      const stored = await readPreemptions(o.store);
      const victims = new Map<string, Map<string, string>>();
      for (const { mark, mod } of stored.victims) {
        const t = cache.tasks.get(mark.job)?.get(mark.task)?.value;
        if (t === undefined || t.desired === 'stop' || t.preempted !== undefined) {
          // Only from a cache that has seen the mark (and so the task, if it still exists).
          const fence = cache.revision >= mod ? fenceFor(mark.job) : undefined;
          if (fence !== undefined) void this.#cleanup(fence, keys.preemptionVictim(mark.job, mark.task), mod);
          continue;
        }
        const m = victims.get(mark.job) ?? new Map<string, string>();
        m.set(mark.task, mark.why);
        victims.set(mark.job, m);
      }
      const reserved = new Map<string, Reservation>();
      for (const { reservation: r, mod } of stored.reserved) {
        if (r.until <= now) {
          const fence = fenceFor(r.job);
          if (fence !== undefined) void this.#cleanup(fence, keys.preemptionReserved(r.job), mod);
          continue;
        }
        reserved.set(r.job, { until: r.until, hosts: new Map(Object.entries(r.hosts)) });
      }
      for (const again of this.#replay) again(victims, reserved);
      this.#victims = victims;
      this.#reserved = reserved;
    } catch (e) {
      o.logger.debug({ err: e }, 'preemption state not read; trying again next tick');
    } finally {
      this.#syncing = false;
      this.#replay = [];
    }
  }

  /** Marks `task` of `job` in `victims`. */
  static #mark(victims: Map<string, Map<string, string>>, job: string, task: string, why: string): void {
    const m = victims.get(job) ?? new Map<string, string>();
    if (!m.has(task)) m.set(task, why);
    victims.set(job, m);
  }

  async #cleanup(fence: JobFence, key: string, mod: number): Promise<void> {
    const o = this.#o;
    if (o === undefined) return;
    await writeFenced(
      o.store,
      [...fence.compares, { key, target: 'mod', op: '=', modRevision: mod }],
      [{ type: 'delete', key }],
      o.logger,
    );
  }

  /** Writes `ops` under `fence` (no store or no fence: memory only). */
  #write(fence: JobFence | undefined, ops: TxnOp[]): void {
    const o = this.#o;
    if (o === undefined || fence === undefined || ops.length === 0) return;
    void writeFenced(o.store, fence.compares, ops, o.logger);
  }

  /** The tasks a batch job must stop for services (undefined: none). */
  forBatch(job: string): ReadonlyMap<string, string> | undefined {
    const m = this.#victims.get(job);
    return m === undefined || m.size === 0 ? undefined : m;
  }

  /** Marks a batch task to stop (a recalled loan's host; a service's room), stored under `fence`. */
  preempt(job: string, task: string, why: string, now: number, fence?: JobFence): void {
    if (this.#victims.get(job)?.has(task) === true) return;
    Preemptions.#mark(this.#victims, job, task, why);
    if (this.#syncing) this.#replay.push((v) => Preemptions.#mark(v, job, task, why));
    this.#write(fence, [putVictim({ job, task, why, at: now })]);
  }

  /** Batch jobs with tasks to stop (to decide again). */
  pendingJobs(): string[] {
    return [...this.#victims.keys()];
  }

  /** A batch job's plan was written (or decided): the preemptions it carries are done. */
  stopped(job: string, plan: ReconcilePlan): void {
    const m = this.#victims.get(job);
    if (m === undefined) return;
    for (const id of Object.keys(plan.preempted ?? {})) m.delete(id);
    if (m.size === 0) this.#victims.delete(job);
  }

  /** The hosts as a batch job must see them: reserved room counts as allocated. */
  hostsForBatch(hosts: readonly HostView[], now: number): HostView[] | undefined {
    const total = new Map<string, ResourceSpec>();
    for (const [job, r] of this.#reserved) {
      if (r.until <= now) {
        this.#reserved.delete(job);
        continue;
      }
      for (const [h, res] of r.hosts) total.set(h, add(total.get(h), res));
    }
    if (total.size === 0) return undefined;
    return hosts.map((h) => {
      const r = total.get(h.id);
      return r === undefined ? h : { ...h, allocated: add(h.allocated, r) };
    });
  }

  /**
   * After a service's pass: its tasks left without a host preempt batch tasks. Returns the batch
   * jobs that have new victims (to decide again now).
   */
  afterService(
    job: JobRecord,
    plan: ReconcilePlan,
    cache: StateCache,
    hosts: readonly HostView[],
    now: number,
    fence?: JobFence,
  ): string[] {
    const needs = plan.create.filter((t) => t.host === null && t.desired === 'run');
    for (const t of cache.taskViews(job.name)) {
      if (t.host === null && t.desired === 'run' && !needs.some((n) => n.id === t.id)) needs.push(t);
    }
    if (needs.length === 0) {
      if (this.#reserved.delete(job.name)) {
        if (this.#syncing) this.#replay.push((_, r) => r.delete(job.name));
        this.#write(fence, [{ type: 'delete', key: keys.preemptionReserved(job.name) }]);
      }
      return [];
    }
    const { candidates, freeing } = this.#candidates(cache);
    const view = hosts.map((h) => {
      const f = freeing.get(h.id);
      if (f === undefined) return h;
      return {
        ...h,
        allocated: {
          cpu: h.allocated.cpu - f.cpu,
          memoryBytes: h.allocated.memoryBytes - f.memoryBytes,
          pids: h.allocated.pids - f.pids,
        },
      };
    });
    const jobTasks = new Map<string, number>();
    for (const t of cache.taskViews(job.name))
      if (t.host !== null && t.desired === 'run') jobTasks.set(t.host, (jobTasks.get(t.host) ?? 0) + 1);
    const decided = planPreemption({
      job: {
        name: job.name,
        version: job.version,
        placement: job.spec.placement,
        ports: job.spec.task.ports,
      },
      needs: needs.map((t) => ({ id: t.id, resources: t.spec.resources })),
      hosts: view,
      jobTasks,
      candidates,
    });
    const dirty = new Set<string>();
    const reservation = this.#reserved.get(job.name) ?? { until: 0, hosts: new Map<string, ResourceSpec>() };
    reservation.until = now + RESERVE_MS;
    const ops: TxnOp[] = [];
    for (const p of decided) {
      const need = needs.find((n) => n.id === p.task);
      if (need !== undefined && p.victims.length > 0)
        reservation.hosts.set(p.host, add(reservation.hosts.get(p.host), need.spec.resources));
      for (const v of p.victims) {
        const m = this.#victims.get(v.job) ?? new Map<string, string>();
        const why = `preempted for service ${job.name} (task ${p.task} needs its room on ${v.host})`;
        m.set(v.id, why);
        this.#victims.set(v.job, m);
        if (this.#syncing) this.#replay.push((vs) => Preemptions.#mark(vs, v.job, v.id, why));
        dirty.add(v.job);
        ops.push(putVictim({ job: v.job, task: v.id, why, at: now }));
      }
    }
    if (reservation.hosts.size > 0) {
      this.#reserved.set(job.name, reservation);
      if (this.#syncing && ops.length > 0) this.#replay.push((_, r) => r.set(job.name, reservation));
      // Stored when it changes (new victims): its time is that of the last decision.
      if (ops.length > 0)
        ops.push(
          putReservation({
            job: job.name,
            until: reservation.until,
            hosts: Object.fromEntries(reservation.hosts),
          }),
        );
    }
    this.#write(fence, ops);
    return [...dirty];
  }

  /** Batch tasks that may be preempted, and per host what preempted tasks still stopping will free. */
  #candidates(cache: StateCache): { candidates: PreemptionCandidate[]; freeing: Map<string, ResourceSpec> } {
    const candidates: PreemptionCandidate[] = [];
    const freeing = new Map<string, ResourceSpec>();
    for (const [name, entry] of cache.jobs) {
      const batch = entry.value.spec.batch;
      if (batch === undefined) continue;
      const chosen = this.#victims.get(name);
      for (const { value: t } of cache.tasks.get(name)?.values() ?? []) {
        if (t.host === null) continue;
        if (t.desired === 'stop' || chosen?.has(t.id) === true) {
          if (isPreempted(t, chosen)) freeing.set(t.host, add(freeing.get(t.host), t.spec.resources));
          continue;
        }
        candidates.push({
          id: t.id,
          job: name,
          host: t.host,
          resources: t.spec.resources,
          priority: batch.priority,
          createdAt: t.createdAt,
        });
      }
    }
    return { candidates, freeing };
  }
}

function isPreempted(t: Task, chosen: ReadonlyMap<string, string> | undefined): boolean {
  return t.preempted !== undefined || chosen?.has(t.id) === true;
}

/** Services first, then batch jobs by priority (highest first): who is decided first gets the room. */
export function byRank(jobs: string[], cache: StateCache): string[] {
  const rank = (name: string): number => {
    const b = cache.jobs.get(name)?.value.spec.batch;
    return b === undefined ? -1 : 1000 - b.priority;
  };
  return jobs.sort((a, b) => rank(a) - rank(b));
}

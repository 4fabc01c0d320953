/**
 * The scheduler's view of the store: every job, version, task, status, host and deployment, kept
 * current from one watch. Level-triggered: on any watch failure (including compaction) it re-lists.
 */
import type {
  Deployment,
  HostCapacity,
  HostRecord,
  HostView,
  JobRecord,
  ResourceSpec,
  JobVersionRecord,
  Task,
  TaskRecord,
  TaskControlState,
  TaskStatus,
  TaskView,
  VolumeRecord,
} from '../model/index.ts';
import { Fleet } from '../allocator/index.ts';
import { keys, refersToSpec, taskFromRecord } from '../model/index.ts';
import type { KeyValue, WatchEvent } from '../store/index.ts';

/** A host as the deploy's runnability check sees it (see hostKinds). */
type HostKind = Pick<HostView, 'state' | 'runtime'>;

interface Entry<T> {
  value: T;
  mod: number;
}

export class StateCache {
  revision = 0;
  readonly jobs = new Map<string, Entry<JobRecord>>();
  readonly versions = new Map<string, Map<number, JobVersionRecord>>();
  /** job -> task id -> task */
  readonly tasks = new Map<string, Map<string, Entry<Task>>>();
  /** job -> task id -> status */
  readonly statuses = new Map<string, Map<string, TaskStatus>>();
  readonly hosts = new Map<string, HostRecord>();
  readonly alive = new Set<string>();
  /** hostKinds(), until a host record or liveness changes. */
  #kinds: HostKind[] | undefined;
  /** job -> version -> deployment */
  readonly deployments = new Map<string, Map<number, Deployment>>();
  /** job -> slot -> where the slot's volumes live (jobs with task.volumes). */
  readonly volumes = new Map<string, Map<number, VolumeRecord>>();
  /** job -> its TaskControl state (/taskcontrol/JOB), for the job views served from here. */
  readonly taskControls = new Map<string, TaskControlState>();
  /** host -> mod revision of its placement fence key (/placements/HOST). */
  readonly placements = new Map<string, number>();
  /** host -> its tasks (key job/id -> resources), kept from the task writes; stopping tasks count. */
  readonly #hostTasks = new Map<string, Map<string, Task['spec']['resources']>>();
  /** Built views, by host; a host's entry is dropped when its record, liveness or tasks change. */
  readonly #views = new Map<string, HostView>();
  #viewList: HostView[] | undefined;
  /** The allocator's index of the host views, updated host by host (see `fleet()`). */
  #fleet: Fleet | undefined;
  /** Hosts whose view changed since the fleet last took them. */
  readonly #fleetStale = new Set<string>();
  /**
   * Placements of plans being written (task key job/id -> host and resources), counted in the
   * fleet until the task's write is applied here (or the write failed: `unreserve`).
   */
  readonly #reserved = new Map<string, { host: string; resources: ResourceSpec }>();
  readonly #reservedOn = new Map<string, Set<string>>();
  /** job -> the sequence number of the last change to what its view shows (see `jobChange`). */
  readonly #jobChanges = new Map<string, number>();
  /** Grows for the cache's life, across `clear()`: a number is never given to two states. */
  #changeSeq = 0;
  /** Key -> a value this process is writing and the object it encodes (see `expect`). */
  readonly #expected = new Map<string, { value: string; object: unknown }>();

  clear(): void {
    this.revision = 0;
    for (const m of [
      this.jobs,
      this.versions,
      this.tasks,
      this.statuses,
      this.hosts,
      this.deployments,
      this.volumes,
      this.taskControls,
      this.placements,
    ])
      m.clear();
    this.alive.clear();
    this.#kinds = undefined;
    this.#hostTasks.clear();
    this.#views.clear();
    this.#viewList = undefined;
    this.#fleet = undefined;
    this.#fleetStale.clear();
    this.#reserved.clear();
    this.#reservedOn.clear();
    this.#expected.clear();
    this.#jobChanges.clear();
  }

  /**
   * A number that changes whenever the job's record, versions, tasks, statuses, deployments or
   * TaskControl state change (undefined for a job the cache does not know): equal numbers, equal
   * job views.
   */
  jobChange(job: string): number | undefined {
    return this.#jobChanges.get(job);
  }

  /**
   * Counts these tasks' placements in the fleet while their writes are on the way, so the next
   * plans do not hand the same capacity out again. Each reservation ends when the task's write is
   * applied to the cache (the host's view then holds it) or with `unreserve`.
   */
  reserve(tasks: readonly Task[]): void {
    const fleet = this.fleet();
    for (const t of tasks) {
      if (t.host === null) continue;
      const key = `${t.job}/${t.id}`;
      this.#dropReservation(key);
      this.#reserved.set(key, { host: t.host, resources: t.spec.resources });
      let on = this.#reservedOn.get(t.host);
      if (!on) this.#reservedOn.set(t.host, (on = new Set()));
      on.add(key);
      const i = fleet.index.get(t.host);
      if (i !== undefined) fleet.consume(i, t.spec.resources);
    }
  }

  /** Ends the reservations of tasks whose writes failed (or were never sent). */
  unreserve(tasks: readonly Task[]): void {
    for (const t of tasks) this.#dropReservation(`${t.job}/${t.id}`);
  }

  /**
   * Values about to be written by this process, with the objects they encode: when the write comes
   * back through the watch, the object is used instead of parsing the JSON again. The objects must
   * not be changed afterwards (the cache's records are never changed in place).
   */
  expect(entries: readonly { key: string; value: string; object: unknown }[]): void {
    for (const e of entries) this.#expected.set(e.key, { value: e.value, object: e.object });
  }

  /** Forgets expected values whose write will not happen (it failed). */
  unexpect(keys: readonly string[]): void {
    for (const k of keys) this.#expected.delete(k);
  }

  #decode(key: string, value: string): unknown {
    const e = this.#expected.get(key);
    if (e !== undefined) {
      this.#expected.delete(key);
      if (e.value === value) return e.object;
    }
    return JSON.parse(value) as unknown;
  }

  /** Number of reservations still waiting for their writes (for tests). */
  get reservations(): number {
    return this.#reserved.size;
  }

  #dropReservation(key: string): void {
    const r = this.#reserved.get(key);
    if (r === undefined) return;
    this.#reserved.delete(key);
    const on = this.#reservedOn.get(r.host);
    on?.delete(key);
    if (on?.size === 0) this.#reservedOn.delete(r.host);
    this.#hostChanged(r.host);
  }

  #hostChanged(host: string): void {
    this.#views.delete(host);
    this.#viewList = undefined;
    this.#fleetStale.add(host);
  }

  /** Moves a task's resources from the host it was on to the host it is on now. */
  #retask(key: string, before: Task | undefined, after: Task | undefined): void {
    this.#dropReservation(key);
    if (before && after && before.host === after.host && before.host !== null) {
      // Same host (a stop, a new status...): only the resources it holds may have changed.
      const m = this.#hostTasks.get(before.host);
      if (m !== undefined && m.get(key) === after.spec.resources) return;
      (m ?? this.#hostTasksOf(before.host)).set(key, after.spec.resources);
      this.#hostChanged(before.host);
      return;
    }
    if (before && before.host !== null) {
      const m = this.#hostTasks.get(before.host);
      if (m) {
        m.delete(key);
        if (m.size === 0) this.#hostTasks.delete(before.host);
      }
      this.#hostChanged(before.host);
    }
    if (after && after.host !== null) {
      this.#hostTasksOf(after.host).set(key, after.spec.resources);
      this.#hostChanged(after.host);
    }
  }

  #hostTasksOf(host: string): Map<string, Task['spec']['resources']> {
    let m = this.#hostTasks.get(host);
    if (!m) this.#hostTasks.set(host, (m = new Map<string, Task['spec']['resources']>()));
    return m;
  }

  /** Applies a key's new value (undefined: deleted). Returns the job it concerns, '*' for all, or undefined. */
  apply(key: string, kv: KeyValue | undefined): string | undefined {
    const parts = key.split('/');
    const kind = parts[1];
    // Parsed only for the kinds that keep it (placement values are never read); a value this
    // process wrote itself (`expect`) is taken as the object it was encoded from.
    const value = kv && kind !== 'placements' && kind !== 'alive' ? this.#decode(key, kv.value) : undefined;
    switch (kind) {
      case 'jobs': {
        const name = parts[2] ?? '';
        if (kv) this.jobs.set(name, { value: value as JobRecord, mod: kv.modRevision });
        else this.jobs.delete(name);
        return this.#changed(name);
      }
      case 'jobversions': {
        const name = parts[2] ?? '';
        const v = Number(parts[3]);
        const m = this.versions.get(name) ?? new Map<number, JobVersionRecord>();
        if (kv) m.set(v, value as JobVersionRecord);
        else m.delete(v);
        this.versions.set(name, m);
        return this.#changed(name);
      }
      case 'tasks': {
        const job = parts[2] ?? '';
        const id = parts[3] ?? '';
        let m = this.tasks.get(job);
        if (m === undefined) this.tasks.set(job, (m = new Map<string, Entry<Task>>()));
        const before = m.get(id)?.value;
        const task = value === undefined ? undefined : this.#task(job, value as TaskRecord);
        if (kv && task) m.set(id, { value: task, mod: kv.modRevision });
        else m.delete(id);
        this.#retask(`${job}/${id}`, before, task);
        return this.#changed(job);
      }
      case 'status': {
        const job = parts[2] ?? '';
        const id = parts[3] ?? '';
        let m = this.statuses.get(job);
        if (m === undefined) this.statuses.set(job, (m = new Map<string, TaskStatus>()));
        if (kv) m.set(id, value as TaskStatus);
        else m.delete(id);
        return this.#changed(job);
      }
      case 'hosts': {
        const id = parts[2] ?? '';
        // A host joining or leaving changes the fleet's shape: it is indexed again.
        if (!kv || !this.hosts.has(id)) this.#fleet = undefined;
        if (kv) this.hosts.set(id, value as HostRecord);
        else this.hosts.delete(id);
        this.#kinds = undefined;
        this.#hostChanged(id);
        return '*';
      }
      case 'alive': {
        const id = parts[2] ?? '';
        if (kv) this.alive.add(id);
        else this.alive.delete(id);
        this.#kinds = undefined;
        this.#hostChanged(id);
        return '*';
      }
      case 'deployments': {
        const job = parts[2] ?? '';
        const v = Number(parts[3]);
        const m = this.deployments.get(job) ?? new Map<number, Deployment>();
        if (kv) m.set(v, value as Deployment);
        else m.delete(v);
        this.deployments.set(job, m);
        return this.#changed(job);
      }
      case 'volumes': {
        const job = parts[2] ?? '';
        const slot = Number(parts[3]);
        const m = this.volumes.get(job) ?? new Map<number, VolumeRecord>();
        if (kv) m.set(slot, value as VolumeRecord);
        else m.delete(slot);
        if (m.size === 0) this.volumes.delete(job);
        else this.volumes.set(job, m);
        return job;
      }
      case 'taskcontrol': {
        const job = parts[2] ?? '';
        if (kv) this.taskControls.set(job, value as TaskControlState);
        else this.taskControls.delete(job);
        this.#changed(job);
        return undefined;
      }
      case 'placements': {
        // Only compared by plan transactions; changes make no job dirty.
        const host = parts[2] ?? '';
        if (kv) this.placements.set(host, kv.modRevision);
        else this.placements.delete(host);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /**
   * The task a stored record stands for, its spec resolved from the job's versions (applied before
   * its tasks: they sort first when listing, and a version is written before any task made from
   * it). A record whose version this cache does not hold, which only a damaged store could give,
   * takes the spec of the version with its number, else the job's current one.
   */
  #task(job: string, record: TaskRecord): Task | undefined {
    if (!refersToSpec(record)) return record as Task;
    const version = this.versions.get(job)?.get(record.version);
    const task = taskFromRecord(record, version);
    if (task !== undefined) return task;
    const spec = version?.spec.task ?? this.jobs.get(job)?.value.spec.task;
    if (spec === undefined) return undefined;
    const { specAt: _at, ...rest } = record;
    return { ...rest, spec };
  }

  applyEvent(e: WatchEvent): string | undefined {
    return this.apply(e.kv.key, e.type === 'put' ? e.kv : undefined);
  }

  #changed(job: string): string {
    this.#jobChanges.set(job, ++this.#changeSeq);
    return job;
  }

  taskViews(job: string): TaskView[] {
    const statuses = this.statuses.get(job);
    return [...(this.tasks.get(job)?.values() ?? [])].map((e) => {
      const s = statuses?.get(e.value.id);
      return s ? { ...e.value, status: s } : { ...e.value };
    });
  }

  /**
   * Every known host with what its tasks hold. Views are rebuilt only for hosts whose record,
   * liveness or tasks changed since the last call; the array is new on each call, its views are
   * shared and must not be changed.
   */
  hostViews(): HostView[] {
    if (this.#viewList === undefined) {
      this.#viewList = [...this.hosts.values()].map((h) => {
        let v = this.#views.get(h.id);
        if (v === undefined) {
          v = this.#view(h);
          this.#views.set(h.id, v);
        }
        return v;
      });
    }
    return [...this.#viewList];
  }

  /**
   * The distinct (state, runtime) pairs of the known hosts: what a deploy's runnability check needs,
   * without building a view of every host (a deploy on a fleet being filled would rebuild most).
   */
  hostKinds(): readonly HostKind[] {
    this.#kinds ??= this.#hostKinds();
    return this.#kinds;
  }

  #hostKinds(): HostKind[] {
    const seen = new Map<string, HostKind>();
    for (const h of this.hosts.values()) {
      const state = this.alive.has(h.id) ? h.schedulable : 'down';
      const k = `${state}\0${h.runtime}`;
      if (!seen.has(k)) seen.set(k, { state, runtime: h.runtime });
    }
    return [...seen.values()];
  }

  /**
   * The host views indexed for the allocator (the same views as `hostViews()`). Kept across calls:
   * only hosts whose view changed are updated in it, and it is indexed again when hosts join or
   * leave. Reconcile passes it on; the allocator works on forks, so it is never changed there.
   */
  fleet(): Fleet {
    let fleet = this.#fleet;
    if (fleet !== undefined) {
      for (const id of this.#fleetStale) {
        const record = this.hosts.get(id);
        if (record === undefined) continue; // tasks on an unknown host: not in the fleet
        let v = this.#views.get(id);
        if (v === undefined) {
          v = this.#view(record);
          this.#views.set(id, v);
        }
        if (!fleet.setHost(v)) {
          fleet = undefined;
          break;
        }
        this.#consumeReserved(fleet, id);
      }
    }
    this.#fleetStale.clear();
    if (fleet === undefined) {
      fleet = new Fleet(this.hostViews());
      for (const host of this.#reservedOn.keys()) this.#consumeReserved(fleet, host);
    }
    this.#fleet = fleet;
    return fleet;
  }

  #consumeReserved(fleet: Fleet, host: string): void {
    const on = this.#reservedOn.get(host);
    const i = fleet.index.get(host);
    if (on === undefined || i === undefined) return;
    for (const key of on) {
      const r = this.#reserved.get(key);
      if (r) fleet.consume(i, r.resources);
    }
  }

  #view(h: HostRecord): HostView {
    const allocated: HostCapacity = { cpu: 0, memoryBytes: 0, pids: 0 };
    const tasks = this.#hostTasks.get(h.id);
    for (const r of tasks?.values() ?? []) {
      allocated.cpu += r.cpu;
      allocated.memoryBytes += r.memoryBytes;
      allocated.pids += r.pids;
    }
    const v: HostView = {
      id: h.id,
      state: this.alive.has(h.id) ? h.schedulable : 'down',
      labels: h.labels,
      capacity: h.capacity,
      allocated,
      runtime: h.runtime,
      registeredAt: h.registeredAt,
      tasks: tasks?.size ?? 0,
    };
    if (h.agentUrl !== undefined) v.agentUrl = h.agentUrl;
    if (h.schedulable === 'draining' && h.drainDeadline !== undefined) v.drainDeadline = h.drainDeadline;
    if (h.schedulable === 'maintenance' && h.maintenance !== undefined) {
      v.maintenance = h.maintenance;
      v.drainDeadline = h.maintenance.deadline;
    }
    if (h.conditions !== undefined && h.conditions.length > 0) v.conditions = h.conditions;
    return v;
  }

  /** Newest version below `below` whose deployment succeeded. */
  lastGoodVersion(job: string, below: number): number | undefined {
    let best: number | undefined;
    for (const [v, d] of this.deployments.get(job) ?? []) {
      if (v < below && d.state === 'succeeded' && (best === undefined || v > best)) best = v;
    }
    return best;
  }

  taskKeyMod(job: string, id: string): number {
    return this.tasks.get(job)?.get(id)?.mod ?? 0;
  }
}

export const isSchedulerKey = (key: string): boolean =>
  !key.startsWith(keys.eventsPrefix) &&
  !key.startsWith(keys.assignmentsPrefix) &&
  // Configs (their contents are not JSON, and the scheduler reads none of them).
  !key.startsWith(keys.configKeysPrefix);

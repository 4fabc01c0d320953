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
  JobVersionRecord,
  Task,
  TaskStatus,
  TaskView,
} from '../model/index.ts';
import { keys } from '../model/index.ts';
import type { KeyValue, WatchEvent } from '../store/index.ts';

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
  /** job -> version -> deployment */
  readonly deployments = new Map<string, Map<number, Deployment>>();
  /** host -> mod revision of its placement fence key (/placements/HOST). */
  readonly placements = new Map<string, number>();

  clear(): void {
    this.revision = 0;
    for (const m of [
      this.jobs,
      this.versions,
      this.tasks,
      this.statuses,
      this.hosts,
      this.deployments,
      this.placements,
    ])
      m.clear();
    this.alive.clear();
  }

  /** Applies a key's new value (undefined: deleted). Returns the job it concerns, '*' for all, or undefined. */
  apply(key: string, kv: KeyValue | undefined): string | undefined {
    const parts = key.split('/');
    const kind = parts[1];
    const value = kv ? (JSON.parse(kv.value) as unknown) : undefined;
    switch (kind) {
      case 'jobs': {
        const name = parts[2] ?? '';
        if (kv) this.jobs.set(name, { value: value as JobRecord, mod: kv.modRevision });
        else this.jobs.delete(name);
        return name;
      }
      case 'jobversions': {
        const name = parts[2] ?? '';
        const v = Number(parts[3]);
        const m = this.versions.get(name) ?? new Map<number, JobVersionRecord>();
        if (kv) m.set(v, value as JobVersionRecord);
        else m.delete(v);
        this.versions.set(name, m);
        return name;
      }
      case 'tasks': {
        const job = parts[2] ?? '';
        const id = parts[3] ?? '';
        const m = this.tasks.get(job) ?? new Map<string, Entry<Task>>();
        if (kv) m.set(id, { value: value as Task, mod: kv.modRevision });
        else m.delete(id);
        this.tasks.set(job, m);
        return job;
      }
      case 'status': {
        const job = parts[2] ?? '';
        const id = parts[3] ?? '';
        const m = this.statuses.get(job) ?? new Map<string, TaskStatus>();
        if (kv) m.set(id, value as TaskStatus);
        else m.delete(id);
        this.statuses.set(job, m);
        return job;
      }
      case 'hosts': {
        const id = parts[2] ?? '';
        if (kv) this.hosts.set(id, value as HostRecord);
        else this.hosts.delete(id);
        return '*';
      }
      case 'alive': {
        const id = parts[2] ?? '';
        if (kv) this.alive.add(id);
        else this.alive.delete(id);
        return '*';
      }
      case 'deployments': {
        const job = parts[2] ?? '';
        const v = Number(parts[3]);
        const m = this.deployments.get(job) ?? new Map<number, Deployment>();
        if (kv) m.set(v, value as Deployment);
        else m.delete(v);
        this.deployments.set(job, m);
        return job;
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

  applyEvent(e: WatchEvent): string | undefined {
    return this.apply(e.kv.key, e.type === 'put' ? e.kv : undefined);
  }

  taskViews(job: string): TaskView[] {
    const statuses = this.statuses.get(job);
    return [...(this.tasks.get(job)?.values() ?? [])].map((e) => {
      const s = statuses?.get(e.value.id);
      return s ? { ...e.value, status: s } : { ...e.value };
    });
  }

  hostViews(): HostView[] {
    const allocated = new Map<string, HostCapacity>();
    const count = new Map<string, number>();
    for (const m of this.tasks.values()) {
      for (const { value: t } of m.values()) {
        // Counts stopping tasks too: their processes hold resources until they are removed.
        if (t.host === null) continue;
        const a = allocated.get(t.host) ?? { cpu: 0, memoryBytes: 0, pids: 0 };
        a.cpu += t.spec.resources.cpu;
        a.memoryBytes += t.spec.resources.memoryBytes;
        a.pids += t.spec.resources.pids;
        allocated.set(t.host, a);
        count.set(t.host, (count.get(t.host) ?? 0) + 1);
      }
    }
    return [...this.hosts.values()].map((h) => {
      const v: HostView = {
        id: h.id,
        state: this.alive.has(h.id) ? h.schedulable : 'down',
        labels: h.labels,
        capacity: h.capacity,
        allocated: allocated.get(h.id) ?? { cpu: 0, memoryBytes: 0, pids: 0 },
        runtime: h.runtime,
        registeredAt: h.registeredAt,
        tasks: count.get(h.id) ?? 0,
      };
      if (h.agentUrl !== undefined) v.agentUrl = h.agentUrl;
      if (h.schedulable === 'draining' && h.drainDeadline !== undefined) v.drainDeadline = h.drainDeadline;
      return v;
    });
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
  !key.startsWith(keys.eventsPrefix) && !key.startsWith(keys.assignmentsPrefix);

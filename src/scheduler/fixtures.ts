/** Builders of job specs, hosts and tasks for the scheduler's tests (pure, no I/O). */
import type { HostView, JobRecord, JobSpec, Task, TaskStatus, TaskView, UpdateSpec } from '../model/index.ts';
import type { SimHost } from './simulator.ts';

export const Mi = 1024 * 1024;
export const Gi = 1024 * Mi;

export function jobSpec(
  o: {
    name?: string;
    replicas?: number;
    command?: string[];
    update?: Partial<UpdateSpec>;
    cpu?: number;
    memoryBytes?: number;
    pids?: number;
  } = {},
): JobSpec {
  return {
    name: o.name ?? 'web',
    replicas: o.replicas ?? 1,
    task: {
      command: o.command ?? ['serve', '--v1'],
      env: {},
      resources: { cpu: o.cpu ?? 0.25, memoryBytes: o.memoryBytes ?? 64 * Mi, pids: o.pids ?? 64 },
      ports: [],
      health: {},
      restart: { policy: 'always', initialBackoffMs: 100, maxBackoffMs: 10_000 },
      stopGracePeriodMs: 5000,
    },
    update: {
      maxUnavailable: 1,
      maxSurge: 1,
      canary: 0,
      minHealthyMs: 0,
      deadlineMs: 300_000,
      autoRollback: true,
      autoPromote: true,
      ...o.update,
    },
    placement: { spread: [], constraints: [] },
  };
}

export function jobRecord(spec: JobSpec, version = 1, status: JobRecord['status'] = 'active'): JobRecord {
  return { name: spec.name, version, status, spec, createdAt: 0, updatedAt: 0 };
}

export function simHost(
  id: string,
  o: { cpu?: number; memoryBytes?: number; pids?: number; state?: SimHost['state'] } = {},
): SimHost {
  return {
    id,
    state: o.state ?? 'ready',
    capacity: { cpu: o.cpu ?? 64, memoryBytes: o.memoryBytes ?? 256 * Gi, pids: o.pids ?? 100_000 },
  };
}

export function hostView(
  id: string,
  o: {
    cpu?: number;
    memoryBytes?: number;
    pids?: number;
    state?: HostView['state'];
    allocated?: Partial<HostView['allocated']>;
  } = {},
): HostView {
  const h = simHost(id, o);
  return {
    id,
    state: h.state,
    labels: {},
    capacity: h.capacity,
    allocated: { cpu: 0, memoryBytes: 0, pids: 0, ...o.allocated },
    runtime: 'process',
    registeredAt: 0,
    tasks: 0,
  };
}

export function task(spec: JobSpec, o: Partial<Task> & { id: string }): Task {
  return { job: spec.name, version: 1, host: 'h1', desired: 'run', spec: spec.task, createdAt: 0, ...o };
}

/** A task view whose agent reports it running and healthy since `since`. */
export function runningTask(
  spec: JobSpec,
  o: Partial<Task> & { id: string },
  since = 0,
  status: Partial<TaskStatus> = {},
): TaskView {
  const t = task(spec, o);
  return {
    ...t,
    status: {
      id: t.id,
      job: t.job,
      host: t.host ?? 'h1',
      state: 'running',
      healthy: true,
      ready: true,
      restarts: 0,
      startedAt: since,
      healthySince: since,
      updatedAt: since,
      ...status,
    },
  };
}

/** An id source: t0001, t0002, ... */
export function ids(prefix = 'n'): () => string {
  let n = 0;
  return () => `${prefix}${String(++n).padStart(4, '0')}`;
}

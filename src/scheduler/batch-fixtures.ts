/** A batch job and a small in-memory cluster to play it in, for the scheduler's batch tests. */
import type { BatchSpec, Deployment, HostView, JobRecord, TaskStatus, TaskView } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec } from './fixtures.ts';
import { reconcile } from './reconcile.ts';
import type { ReconcilePlan } from './types.ts';

export function batchJob(b: Partial<BatchSpec> = {}, name = 'crunch'): JobRecord {
  const batch: BatchSpec = {
    completions: 4,
    parallelism: 2,
    retryLimit: 2,
    backoffMs: 1000,
    maxBackoffMs: 8000,
    priority: 0,
    ...b,
  };
  const spec = jobSpec({ name, replicas: batch.parallelism, cpu: 1 });
  spec.task.restart.policy = 'never';
  spec.batch = batch;
  return jobRecord(spec);
}

/** The job's tasks, their statuses and its deployment record, with the plans applied as the loop does. */
export class BatchWorld {
  now = 1_000_000;
  readonly tasks = new Map<string, TaskView>();
  deployment: Deployment | undefined;
  hosts: HostView[];
  readonly newTaskId = ids('b');
  job: JobRecord;

  constructor(job: JobRecord, hostCount = 2, cpu = 4) {
    this.job = job;
    this.hosts = Array.from({ length: hostCount }, (_, i) => hostView(`h${i + 1}`, { cpu }));
  }

  /** Hosts with `allocated` counting the tasks placed on them. */
  hostViews(): HostView[] {
    return this.hosts.map((h) => {
      const mine = [...this.tasks.values()].filter((t) => t.host === h.id);
      return {
        ...h,
        tasks: mine.length,
        allocated: {
          cpu: mine.reduce((a, t) => a + t.spec.resources.cpu, 0),
          memoryBytes: mine.reduce((a, t) => a + t.spec.resources.memoryBytes, 0),
          pids: mine.reduce((a, t) => a + t.spec.resources.pids, 0),
        },
      };
    });
  }

  decide(preempt?: ReadonlyMap<string, string>): ReconcilePlan {
    return reconcile({
      job: this.job,
      versions: [],
      tasks: [...this.tasks.values()],
      hosts: this.hostViews(),
      deployment: this.deployment,
      now: this.now,
      newTaskId: this.newTaskId,
      ...(preempt === undefined ? {} : { preempt }),
    });
  }

  /** Writes a plan (or only its record, `recordOnly`: a plan whose later parts were lost). */
  apply(plan: ReconcilePlan, recordOnly = false): void {
    if (plan.deployment !== undefined) this.deployment = plan.deployment;
    if (recordOnly) return;
    // The record is written whole (as the store does); the agent's status is kept apart.
    for (const t of plan.create) {
      const status = this.tasks.get(t.id)?.status;
      this.tasks.set(t.id, status === undefined ? { ...t } : { ...t, status });
    }
    for (const id of plan.stop) {
      const t = this.tasks.get(id);
      if (t !== undefined) this.tasks.set(id, { ...t, desired: 'stop' });
    }
    for (const id of plan.remove) this.tasks.delete(id);
  }

  /** The agent reports a task's state. */
  report(id: string, s: Partial<TaskStatus>): void {
    const t = this.tasks.get(id);
    if (t === undefined) throw new Error(`no task ${id}`);
    t.status = {
      id,
      job: t.job,
      host: t.host ?? '',
      state: 'running',
      healthy: false,
      ready: false,
      restarts: 0,
      updatedAt: this.now,
      ...s,
    };
  }

  exit(id: string, code: number): void {
    this.report(id, code === 0 ? { state: 'stopped', exitCode: 0 } : { state: 'failed', exitCode: code });
  }

  /** Tasks the job wants running. */
  live(): TaskView[] {
    return [...this.tasks.values()].filter((t) => t.desired === 'run');
  }
}

/**
 * Placement in one reconcile pass of an active (non-batch) job: the pass's placer, and placing
 * waiting and new tasks with it.
 */
import { placementExplanation, type Task, type TaskView } from '../model/index.ts';
import { allocatorPlacement, type PlacementResult, type Placer } from './placement.ts';
import { VOLUME_WAIT_MS, VolumePlacer, withVolumePlacement } from './volumes.ts';
import { label, taskRecord } from './task-state.ts';
import type { PlanBuilder } from './plan-builder.ts';
import type { ReconcileInput } from './types.ts';

export interface Placed {
  /** Existing unplaced tasks that got a host. */
  placed: Set<string>;
  /** New tasks that got a host. */
  created: number;
}

export const NOTHING_PLACED: Placed = { placed: new Set(), created: 0 };

/** The placer for this pass: the job's tasks that stay (not stopped) steer the spread; a job with
 * volumes gets slots and volume affinity (volumes.ts). */
export function makePlacer(
  input: ReconcileInput,
  live: readonly TaskView[],
  stopped: ReadonlySet<string>,
  isCurrent: (t: TaskView) => boolean,
): Placer {
  const { job } = input;
  const jobTasks = new Map<string, number>();
  for (const t of live) {
    if (t.host !== null && !stopped.has(t.id)) jobTasks.set(t.host, (jobTasks.get(t.host) ?? 0) + 1);
  }
  const base = (input.placement ?? allocatorPlacement)(
    input.hosts,
    jobTasks,
    {
      name: job.name,
      version: job.version,
      placement: job.spec.placement,
      ports: job.spec.task.ports,
    },
    input.fleet,
  );
  const volumes = job.spec.task.volumes ?? [];
  if (volumes.length === 0) return base;
  return new VolumePlacer(base, {
    job: { name: job.name, replicas: job.spec.replicas, volumes: volumes.map((v) => v.name) },
    live,
    stopped,
    isCurrent,
    records: input.volumes ?? [],
    hosts: input.fleet ?? new Map(input.hosts.map((h) => [h.id, h])),
    waitMs: job.spec.placement.volumeWaitMs ?? VOLUME_WAIT_MS,
    now: input.now,
  });
}

/**
 * Places unplaced current tasks (oldest first) and then `create` new ones. Returns the ids of tasks
 * that get a host in this pass and how many new tasks got one.
 */
export function place(
  input: ReconcileInput,
  placer: Placer,
  current: readonly TaskView[],
  stopped: ReadonlySet<string>,
  create: number,
  out: PlanBuilder,
): Placed {
  const placed: Placed = { placed: new Set(), created: 0 };
  const waiting = current.filter((t) => t.host === null && !stopped.has(t.id));
  for (const view of waiting) {
    const r = placer.place(view.spec.resources, view.id);
    const task = taskRecord(view);
    withVolumePlacement(task, r);
    if (r.host !== null) {
      delete task.unplaced;
      delete task.explanation;
      task.host = r.host;
      placed.placed.add(task.id);
      out.upsert(task, 'task.placed', `placed task ${label(task)} on ${r.host}`);
    } else if (
      r.reason !== view.unplaced ||
      (r.explanation !== undefined && view.explanation === undefined)
    ) {
      setUnplaced(task, r);
      out.upsert(task, 'task.unplaceable', `task ${label(task)} is not placed: ${r.reason}`);
    }
  }
  for (let i = 0; i < create; i++) {
    const id = input.newTaskId();
    const r = placer.place(input.job.spec.task.resources, id);
    const task = newTask(input, id, r);
    if (r.host !== null) {
      placed.created++;
      out.upsert(task, 'task.created', `created task ${label(task)} on ${r.host}`);
    } else {
      out.upsert(task, 'task.unplaceable', `created task ${label(task)}, not placed: ${r.reason}`);
    }
  }
  return placed;
}

export function newTask(input: ReconcileInput, id: string, r: PlacementResult): Task {
  const { job, now } = input;
  const task: Task = {
    id,
    job: job.name,
    version: job.version,
    host: r.host,
    desired: 'run',
    spec: job.spec.task,
    createdAt: now,
  };
  if (r.host === null) setUnplaced(task, r);
  return withVolumePlacement(task, r);
}

/** Records why a task has no host: the one-line reason and, when the strategy gives one, the data. */
function setUnplaced(task: Task, r: PlacementResult & { host: null }): void {
  task.unplaced = r.reason;
  if (r.explanation === undefined) delete task.explanation;
  else task.explanation = placementExplanation(r.explanation);
}

/**
 * reconcile: one job's desired state and observed state in, the writes that move them together out.
 * Level-triggered and pure: it reads only its input, and applying its plan then reconciling again
 * converges (an empty plan) instead of oscillating.
 */
import type { Deployment, JobRecord, Task, TaskView } from '../model/index.ts';
import {
  finish,
  deadlineOf,
  failureMessage,
  failureOf,
  type Failure,
  isComplete,
  progressMessage,
  sameRecord,
  startDeployment,
  withCounts,
  type ProgressCounts,
} from './deployment-progress.ts';
import { allocatorPlacement } from './placement.ts';
import { chooseRollback } from './rollback.ts';
import { planRollout, rolloutBudget, type RolloutDecision, type StopWhy } from './rollout.ts';
import { sameSpec } from './spec-equal.ts';
import { availableFrom, byAge, goneReason, label, lostReason, taskRecord } from './task-state.ts';
import type { PlanEvent, ReconcileInput, ReconcilePlan } from './types.ts';

class PlanBuilder {
  readonly plan: ReconcilePlan = {
    create: [],
    stop: [],
    remove: [],
    deployment: undefined,
    supersede: [],
    events: [],
  };

  event(kind: string, message: string, task?: Pick<Task, 'id' | 'host'>): void {
    const e: PlanEvent = { kind, message };
    if (task !== undefined) {
      e.task = task.id;
      if (task.host !== null) e.host = task.host;
    }
    this.plan.events.push(e);
  }

  remove(task: TaskView, kind: string, message: string): void {
    this.plan.remove.push(task.id);
    this.event(kind, message, task);
  }

  /** Stops a task, or removes it outright if it was never placed (nothing runs anywhere). */
  stop(task: TaskView, why: string): void {
    if (task.host === null) {
      this.remove(task, 'task.removed', `removed task ${label(task)}, never placed: ${why}`);
    } else {
      this.plan.stop.push(task.id);
      this.event('task.stopping', `stopping task ${label(task)} on ${task.host}: ${why}`, task);
    }
  }

  upsert(task: Task, kind: string, message: string): void {
    this.plan.create.push(task);
    this.event(kind, message, task);
  }

  wake(at: number | undefined, now: number): void {
    if (at === undefined || at <= now) return;
    if (this.plan.wakeAt === undefined || at < this.plan.wakeAt) this.plan.wakeAt = at;
  }
}

export function reconcile(input: ReconcileInput): ReconcilePlan {
  const { job, now } = input;
  const out = new PlanBuilder();
  const hosts = new Map(input.hosts.map((h) => [h.id, h]));

  // Tasks whose process is gone (or whose host is) leave the store; the rest that should run are
  // what the rollout works with. Stopping tasks still in flight are simply waited for.
  const running: TaskView[] = [];
  for (const task of input.tasks.filter((t) => t.job === job.name).sort(byAge)) {
    const lost = lostReason(task, hosts);
    if (lost !== undefined) {
      if (task.desired === 'run') out.remove(task, 'task.lost', `task ${label(task)} is lost: ${lost}`);
      else out.remove(task, 'task.removed', `removed task ${label(task)}: ${lost}`);
      continue;
    }
    if (task.desired === 'stop') {
      const gone = goneReason(task);
      if (gone !== undefined) out.remove(task, 'task.removed', `removed task ${label(task)}: ${gone}`);
      continue;
    }
    running.push(task);
  }

  for (const d of input.otherDeployments ?? []) {
    if (d.job === job.name && d.version !== job.version && d.state === 'in-progress') {
      const done = finish(d, 'superseded', `superseded by v${job.version}`, now);
      out.plan.supersede.push(done);
      out.event('deployment.superseded', `deployment of v${d.version} superseded by v${job.version}`);
    }
  }

  const record =
    input.deployment !== undefined &&
    input.deployment.job === job.name &&
    input.deployment.version === job.version
      ? input.deployment
      : undefined;

  if (job.status === 'stopped') {
    for (const task of running) out.stop(task, 'job stopped');
    if (record?.state === 'in-progress') {
      out.plan.deployment = finish(record, 'stopped', 'job stopped', now);
      out.event('deployment.stopped', `deployment of v${job.version} stopped: job stopped`);
    }
    return out.plan;
  }

  reconcileActive(input, running, record, out);
  return out.plan;
}

function reconcileActive(
  input: ReconcileInput,
  running: TaskView[],
  record: Deployment | undefined,
  out: PlanBuilder,
): void {
  const { job, now } = input;
  const update = job.spec.update;
  const budget = rolloutBudget(job.spec.replicas, update);
  const isCurrent = currentSpecMatcher(job);
  const current = running.filter(isCurrent);
  const old = running.filter((t) => !isCurrent(t));
  const from = (t: TaskView): number | undefined => availableFrom(t, isCurrent(t) ? update.minHealthyMs : 0);
  const available = (t: TaskView): boolean => {
    const at = from(t);
    return at !== undefined && at <= now;
  };

  // The deployment record this pass works from: a (re)started one when there is none yet.
  let deployment: Deployment;
  let started = false;
  if (record === undefined || record.state === 'stopped' || record.state === 'superseded') {
    deployment = startDeployment(job, replacedVersion(job, running, isCurrent), now);
    started = true;
  } else {
    deployment = record;
  }

  const rolloutFor = (frozen: boolean, cap: number): RolloutDecision =>
    planRollout({ budget, current, old, available, frozen, currentCap: cap });
  const alreadyFailed = deployment.state === 'failed';
  let decision = rolloutFor(alreadyFailed, alreadyFailed ? deployment.placed : Infinity);
  let counts = countsAfter(job, current, old, decision, available, { placed: new Set(), created: 0 });

  let failure: Failure | undefined;
  if (deployment.state === 'in-progress' && !isComplete(counts)) {
    failure = failureOf(deployment, current, update, now);
    if (failure !== undefined) {
      // A failed deployment stops here: no more new tasks than exist now, old ones stay.
      decision = rolloutFor(true, current.length);
    }
  }

  const stopped = new Set<string>();
  for (const { task, why } of decision.stop) {
    stopped.add(task.id);
    out.stop(task, stopWhy(why, job, current.length));
  }

  const placed = place(input, running, current, stopped, decision.create, out);
  counts = countsAfter(job, current, old, decision, available, placed);

  // The deployment record, moved on by what this pass saw and did.
  let next: Deployment;
  let failed: string | undefined;
  if (deployment.state !== 'in-progress') {
    next = deployment; // finished records are history: their counts stay as they were
  } else if (isComplete(counts)) {
    next = finish(
      withCounts(deployment, counts, now),
      'succeeded',
      progressMessage(job.version, counts),
      now,
    );
  } else if (failure !== undefined) {
    failed = failureMessage(failure, deployment, counts, update);
    next = finish(withCounts(deployment, counts, now), 'failed', failed, now);
  } else {
    next = withCounts(deployment, counts, now);
  }
  if (started || !sameRecord(record, next)) {
    out.plan.deployment = next;
    if (started) {
      out.event(
        'deployment.started',
        `deployment of v${job.version} started (from v${next.fromVersion}): ${budget.replicas} replicas, ` +
          `maxUnavailable ${budget.maxUnavailable}, maxSurge ${budget.maxSurge}`,
      );
    }
    if (next.state === 'succeeded')
      out.event('deployment.succeeded', `deployment of v${job.version} succeeded: ${next.message}`);
    else if (next.state === 'failed' && failed !== undefined)
      out.event('deployment.failed', `deployment of v${job.version} failed: ${failed}`);
    else if (!started && next.state === 'in-progress')
      out.event('deployment.progress', `deployment of v${job.version}: ${next.message}`);
  }

  if (next.state === 'failed' && update.autoRollback) {
    const choice = chooseRollback(
      job,
      input.versions,
      (input.otherDeployments ?? []).filter((d) => d.job === job.name),
      input.lastGoodVersion,
    );
    if ('version' in choice) {
      out.plan.rollbackTo = choice.version;
      out.event(
        'job.rollback',
        `rolling back ${job.name} from v${job.version} to v${choice.version}, the last good version`,
      );
    } else if (failed !== undefined) {
      out.event('job.rollback-skipped', `not rolling back ${job.name}: ${choice.none}`);
    }
  }

  // Time alone changes availability (minimum healthy time) and deadlines: ask to be woken.
  for (const t of current) if (!stopped.has(t.id)) out.wake(from(t), now);
  if (next.state === 'in-progress') out.wake(deadlineOf(next, update), now);
}

/**
 * Tasks run the current spec when their version is the current one, or when their version's task
 * spec is identical: a change of replicas or update settings, or a rollback to an earlier spec,
 * keeps the tasks that already run it instead of replacing them. (Decided once per version: all
 * tasks of one version share its spec.)
 */
function currentSpecMatcher(job: JobRecord): (t: TaskView) => boolean {
  const memo = new Map<number, boolean>();
  return (t) => {
    if (t.version === job.version) return true;
    let same = memo.get(t.version);
    if (same === undefined) {
      same = sameSpec(t.spec, job.spec.task);
      memo.set(t.version, same);
    }
    return same;
  };
}

/** The version being replaced: newest older version among tasks to replace, else among the tasks
 * kept, else 0. */
function replacedVersion(
  job: JobRecord,
  running: readonly TaskView[],
  isCurrent: (t: TaskView) => boolean,
): number {
  let replaced = 0;
  let kept = 0;
  for (const t of running) {
    if (t.version >= job.version) continue;
    if (isCurrent(t)) kept = Math.max(kept, t.version);
    else replaced = Math.max(replaced, t.version);
  }
  return replaced > 0 ? replaced : kept;
}

function stopWhy(why: StopWhy, job: JobRecord, currentCount: number): string {
  switch (why) {
    case 'surplus':
      return `surplus (${currentCount} tasks of v${job.version}'s spec for ${job.spec.replicas} replicas)`;
    case 'old-unavailable':
      return `replaced by v${job.version} (not available)`;
    case 'old-replaced':
      return `replaced by v${job.version}`;
  }
}

/**
 * Places unplaced current tasks (oldest first) and then `create` new ones. Returns the ids of tasks
 * that get a host in this pass and how many new tasks got one.
 */
function place(
  input: ReconcileInput,
  running: readonly TaskView[],
  current: readonly TaskView[],
  stopped: ReadonlySet<string>,
  create: number,
  out: PlanBuilder,
): Placed {
  const { job, now } = input;
  const placed: Placed = { placed: new Set(), created: 0 };
  const waiting = current.filter((t) => t.host === null && !stopped.has(t.id));
  if (create === 0 && waiting.length === 0) return placed;

  const jobTasks = new Map<string, number>();
  for (const t of running) {
    if (t.host !== null && !stopped.has(t.id)) jobTasks.set(t.host, (jobTasks.get(t.host) ?? 0) + 1);
  }
  const placer = (input.placement ?? allocatorPlacement)(input.hosts, jobTasks, {
    name: job.name,
    version: job.version,
    placement: job.spec.placement,
    ports: job.spec.task.ports,
  });

  for (const view of waiting) {
    const r = placer.place(view.spec.resources, view.id);
    const task = taskRecord(view);
    if (r.host !== null) {
      delete task.unplaced;
      task.host = r.host;
      placed.placed.add(task.id);
      out.upsert(task, 'task.placed', `placed task ${label(task)} on ${r.host}`);
    } else if (r.reason !== view.unplaced) {
      task.unplaced = r.reason;
      out.upsert(task, 'task.unplaceable', `task ${label(task)} is not placed: ${r.reason}`);
    }
  }
  for (let i = 0; i < create; i++) {
    const id = input.newTaskId();
    const r = placer.place(job.spec.task.resources, id);
    const task: Task = {
      id,
      job: job.name,
      version: job.version,
      host: r.host,
      desired: 'run',
      spec: job.spec.task,
      createdAt: now,
    };
    if (r.host !== null) {
      placed.created++;
      out.upsert(task, 'task.created', `created task ${label(task)} on ${r.host}`);
    } else {
      task.unplaced = r.reason;
      out.upsert(task, 'task.unplaceable', `created task ${label(task)}, not placed: ${r.reason}`);
    }
  }
  return placed;
}

interface Placed {
  /** Existing unplaced tasks that got a host. */
  placed: Set<string>;
  /** New tasks that got a host. */
  created: number;
}

/** The counts once this pass's decision is applied (new tasks are neither running nor available). */
function countsAfter(
  job: JobRecord,
  current: readonly TaskView[],
  old: readonly TaskView[],
  decision: RolloutDecision,
  available: (t: TaskView) => boolean,
  placed: Placed,
): ProgressCounts {
  const stopped = new Set(decision.stop.map((s) => s.task.id));
  const c: ProgressCounts = { desired: job.spec.replicas, placed: 0, running: 0, healthy: 0, old: 0 };
  for (const t of current) {
    if (stopped.has(t.id)) continue;
    if (t.host !== null || placed.placed.has(t.id)) c.placed++;
    if (t.status?.state === 'running') c.running++;
    if (available(t)) c.healthy++;
  }
  c.placed += placed.created;
  for (const t of old) if (!stopped.has(t.id)) c.old++;
  return c;
}

/**
 * reconcile: one job's desired state and observed state in, the writes that move them together out.
 * Level-triggered and pure: it reads only its input, and applying its plan then reconciling again
 * converges (an empty plan) instead of oscillating.
 */
import type { Deployment, TaskView } from '../model/index.ts';
import { awaitingPromotion } from './canary.ts';
import { finish, deadlineOf, failureOf, type Failure } from './deployment-progress.ts';
import { drainForced, drainingHost } from './drain.ts';
import { planRollout, rolloutBudget, type OldTasks, type RolloutDecision } from './rollout.ts';
import { finishVolumes } from './volumes.ts';
import { availableFrom, byAge, goneReason, label, lostReason } from './task-state.ts';
import { reconcileBatch } from './batch.ts';
import { PlanBuilder } from './plan-builder.ts';
import type { HostLookup, ReconcileInput, ReconcilePlan } from './types.ts';
import { NOTHING_PLACED, makePlacer, place } from './active-placement.ts';
import { findMoves, moveTasks } from './active-moves.ts';
import { stopTasks, stoppedBy } from './active-stops.ts';
import {
  autoRollback,
  deploymentDone,
  countsAfter,
  currentSpecMatcher,
  openDeployment,
  reportDeployment,
  settleDeployment,
} from './active-deployment.ts';

export function reconcile(input: ReconcileInput): ReconcilePlan {
  const { job, now } = input;
  const out = new PlanBuilder();
  const hosts: HostLookup = input.fleet ?? new Map(input.hosts.map((h) => [h.id, h]));

  // Tasks whose process is gone (or whose host is) leave the store; the rest that should run are
  // what the rollout works with. Stopping tasks still in flight are simply waited for.
  const running: TaskView[] = [];
  for (const task of input.tasks.filter((t) => t.job === job.name).sort(byAge)) {
    const lost = lostReason(task, hosts);
    if (lost !== undefined && task.desired === 'run' && input.holdLost?.has(task.id) === true) {
      running.push(task); // its replacement waits for the job's controller
      continue;
    }
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

  if (job.spec.batch !== undefined) reconcileBatch(input, running, record, out);
  else reconcileActive(input, hosts, running, record, out);
  return out.plan;
}

/**
 * One pass over an active (non-batch) job: the rollout (canaries, surge and budget), drains and
 * reschedules, placement, and the deployment record with its events.
 */
function reconcileActive(
  input: ReconcileInput,
  hosts: HostLookup,
  running: TaskView[],
  record: Deployment | undefined,
  out: PlanBuilder,
): void {
  const { job, now } = input;
  const update = job.spec.update;
  const budget = rolloutBudget(job.spec.replicas, update);
  const isCurrent = currentSpecMatcher(job);

  // Past a draining host's deadline, whatever is left on it stops, budget or not.
  const forced: TaskView[] = [];
  const live: TaskView[] = [];
  for (const t of running) {
    const h = drainingHost(t, hosts, now);
    if (h !== undefined && drainForced(h, now)) forced.push(t);
    else live.push(t);
  }
  const allCurrent = live.filter(isCurrent);
  const old = live.filter((t) => !isCurrent(t));
  const from = (t: TaskView): number | undefined => availableFrom(t, isCurrent(t) ? update.minHealthyMs : 0);
  const available = (t: TaskView): boolean => {
    const at = from(t);
    return at !== undefined && at <= now;
  };

  const opened = openDeployment(input, record, running, isCurrent, allCurrent.filter(available).length);
  const { deployment, started, change } = opened;
  const moves = findMoves(allCurrent, hosts, job, deployment, now);
  const evicting = allCurrent.filter((t) => moves.has(t.id));
  const current = allCurrent.filter((t) => !moves.has(t.id));
  const leaving = (t: TaskView): boolean => drainingHost(t, hosts, now) !== undefined;

  const rolloutFor = (oldTasks: OldTasks, cap: number): RolloutDecision =>
    planRollout({
      budget,
      current,
      old,
      available,
      frozen: oldTasks === 'keep',
      currentCap: cap,
      oldTasks,
      evicting,
      leaving,
    });
  const alreadyFailed = deployment.state === 'failed';
  const canaryPhase = deployment.state === 'in-progress' && awaitingPromotion(deployment);
  let cap = alreadyFailed ? deployment.placed : canaryPhase ? (deployment.canaries ?? 0) : Infinity;
  let decision = rolloutFor(alreadyFailed ? 'keep' : canaryPhase ? 'room' : 'replace', cap);
  const forcedIds = new Set(forced.map((t) => t.id));
  let counts = countsAfter(job, allCurrent, old, stoppedBy(decision, forcedIds), available, NOTHING_PLACED);

  let failure: Failure | undefined;
  if (deployment.state === 'in-progress' && !deploymentDone(deployment, counts)) {
    failure = failureOf(deployment, allCurrent, update, now);
    if (failure !== undefined) {
      // A failed deployment stops here: no more new tasks than exist now, old ones stay.
      cap = allCurrent.length;
      decision = rolloutFor('keep', cap);
    }
  }

  const failed = failure !== undefined || alreadyFailed;
  const stopped = stopTasks(out, forced, decision, { job, hosts, currentCount: current.length, failed });
  const placer = makePlacer(input, live, stopped, isCurrent);
  const placed = place(input, placer, current, stopped, decision.create, out);
  const moved = moveTasks(input, placer, {
    budget,
    hosts,
    evicting,
    moves,
    available,
    cap,
    stopped,
    availableCount: decision.available,
    running: decision.running + decision.create,
    currentCount: current.filter((t) => !stopped.has(t.id)).length + decision.create,
    placedCount:
      current.filter((t) => !stopped.has(t.id) && (t.host !== null || placed.placed.has(t.id))).length +
      placed.created,
    out,
  });
  placed.created += moved.created;
  finishVolumes(placer, out.plan);
  counts = countsAfter(job, allCurrent, old, stopped, available, placed);

  const settled = settleDeployment(job, deployment, counts, failure, now);
  reportDeployment(out, job, budget, { record, started, change, failure, ...settled });
  autoRollback(input, settled.next, settled.failed, out);

  // Time alone changes availability (minimum healthy time), deadlines and forced drains: ask to be
  // woken.
  for (const t of allCurrent) if (!stopped.has(t.id)) out.wake(from(t), now);
  if (settled.next.state === 'in-progress') out.wake(deadlineOf(settled.next, update), now);
  for (const t of live) {
    if (stopped.has(t.id)) continue;
    out.wake(drainingHost(t, hosts, now)?.drainDeadline, now);
    // A maintenance window not started yet: decide again at its start.
    if (t.host !== null) out.wake(hosts.get(t.host)?.maintenance?.start, now);
  }
}

/**
 * The deployment record of one reconcile pass of an active job: which tasks run the current spec,
 * (re)starting the record, moving it on by the pass's counts, its events, and rolling back when it
 * fails.
 */
import type { Deployment, JobRecord, TaskView } from '../model/index.ts';
import { awaitingPromotion, canaryCount, canaryMessage, phaseChange, type PhaseChange } from './canary.ts';
import {
  finish,
  failureMessage,
  isComplete,
  progressMessage,
  sameRecord,
  startDeployment,
  withCounts,
  type Failure,
  type ProgressCounts,
} from './deployment-progress.ts';
import { chooseRollback } from './rollback.ts';
import type { RolloutBudget } from './rollout.ts';
import { sameSpec } from './spec-equal.ts';
import type { PlanBuilder } from './plan-builder.ts';
import type { ReconcileInput } from './types.ts';
import type { Placed } from './active-placement.ts';

/**
 * Tasks run the current spec when their version is the current one, or when their version's task
 * spec is identical: a change of replicas or update settings, or a rollback to an earlier spec,
 * keeps the tasks that already run it instead of replacing them. (Decided once per version: all
 * tasks of one version share its spec.)
 */
export function currentSpecMatcher(job: JobRecord): (t: TaskView) => boolean {
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

/**
 * The deployment record this pass works from: a (re)started one when there is none yet (with
 * canaries first when the job has them), moved to its next phase when its canaries are ready.
 */
export function openDeployment(
  input: ReconcileInput,
  record: Deployment | undefined,
  running: readonly TaskView[],
  isCurrent: (t: TaskView) => boolean,
  availableCurrent: number,
): { deployment: Deployment; started: boolean; change: PhaseChange | undefined } {
  const { job, now } = input;
  let deployment: Deployment;
  let started = false;
  if (record === undefined || record.state === 'stopped' || record.state === 'superseded') {
    deployment = startDeployment(job, replacedVersion(job, running, isCurrent), now);
    const canaries = canaryCount(
      job,
      running.filter((t) => !isCurrent(t)).length,
      input.versions,
      input.otherDeployments ?? [],
      input.lastGoodVersion,
    );
    if (canaries > 0) deployment = { ...deployment, phase: 'canary', canaries };
    started = true;
  } else {
    deployment = record;
  }
  const change = phaseChange(deployment, availableCurrent, job.spec.update.autoPromote);
  if (change?.to === 'paused') deployment = { ...deployment, phase: 'paused' };
  else if (change?.to === 'rolling') deployment = { ...deployment, phase: 'rolling', promotedAt: now };
  return { deployment, started, change };
}

/** Whether a deployment is done: every count complete and no promotion awaited. */
export function deploymentDone(deployment: Deployment, c: ProgressCounts): boolean {
  return isComplete(c) && !awaitingPromotion(deployment);
}

/**
 * The deployment record, moved on by what this pass saw and did (`failed`: why it failed in this
 * pass).
 */
export function settleDeployment(
  job: JobRecord,
  deployment: Deployment,
  counts: ProgressCounts,
  failure: Failure | undefined,
  now: number,
): { next: Deployment; failed: string | undefined } {
  const update = job.spec.update;
  let next: Deployment;
  let failed: string | undefined;
  if (deployment.state !== 'in-progress') {
    next = deployment; // finished records are history: their counts stay as they were
  } else if (deploymentDone(deployment, counts)) {
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
    if (awaitingPromotion(next)) next.message = canaryMessage(next, counts);
  }
  return { next, failed };
}

/** Writes the deployment record when it changed, with the events of what happened to it. */
export function reportDeployment(
  out: PlanBuilder,
  job: JobRecord,
  budget: RolloutBudget,
  r: {
    record: Deployment | undefined;
    next: Deployment;
    started: boolean;
    change: PhaseChange | undefined;
    failure: Failure | undefined;
    failed: string | undefined;
  },
): void {
  const { record, next, started, change, failure, failed } = r;
  const update = job.spec.update;
  if (!started && sameRecord(record, next)) return;
  out.plan.deployment = next;
  if (started) {
    const canaries =
      next.canaries === undefined
        ? ''
        : `, ${next.canaries} ${next.canaries === 1 ? 'canary' : 'canaries'} first` +
          (update.autoPromote ? ' (autoPromote)' : ', then waits for promotion');
    out.event(
      'deployment.started',
      `deployment of v${job.version} started (from v${next.fromVersion}): ${budget.replicas} replicas, ` +
        `maxUnavailable ${budget.maxUnavailable}, maxSurge ${budget.maxSurge}${canaries}`,
    );
  }
  if (change !== undefined && failure === undefined) {
    if (change.to === 'paused') {
      out.event(
        'deployment.paused',
        `deployment of v${job.version} paused: its canaries are available; promote it to continue (dabba promote ${job.name})`,
      );
    } else {
      out.event(
        'deployment.promoted',
        `deployment of v${job.version} promoted (${change.auto ? 'autoPromote' : 'on request'}): rolling out the rest`,
      );
    }
  }
  if (next.state === 'succeeded')
    out.event('deployment.succeeded', `deployment of v${job.version} succeeded: ${next.message}`);
  else if (next.state === 'failed' && failed !== undefined)
    out.event('deployment.failed', `deployment of v${job.version} failed: ${failed}`);
  else if (!started && next.state === 'in-progress')
    out.event('deployment.progress', `deployment of v${job.version}: ${next.message}`);
}

/** A failed deployment of a job with autoRollback: roll back to the last good version, if any. */
export function autoRollback(
  input: ReconcileInput,
  next: Deployment,
  failed: string | undefined,
  out: PlanBuilder,
): void {
  const { job } = input;
  if (next.state !== 'failed' || !job.spec.update.autoRollback) return;
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

/** The counts once this pass's stops and starts are applied (new tasks are neither running nor
 * available). */
export function countsAfter(
  job: JobRecord,
  current: readonly TaskView[],
  old: readonly TaskView[],
  stopped: ReadonlySet<string>,
  available: (t: TaskView) => boolean,
  placed: Placed,
): ProgressCounts {
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

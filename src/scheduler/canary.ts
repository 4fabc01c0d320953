/**
 * Canary deployments: with `update.canary: N`, a new version first gets N new tasks (the canaries,
 * within maxSurge; an old task is stopped for one only when the surge budget leaves no room, and
 * then only within maxUnavailable). When they are available the deployment pauses (phase
 * 'paused') until it is promoted (`Deployment.promoted`, set by the promote command) or at once
 * with `update.autoPromote`; then the rollout continues as usual (phase 'rolling'). A canary that
 * crash-loops, or canaries not available by the deadline, fail the deployment as usual.
 *
 * No canary phase when there is nothing to protect (no old tasks to replace) or when the task spec
 * is known good (an earlier version with the same task spec succeeded: a rollback).
 */
import type { Deployment, JobRecord, JobVersionRecord } from '../model/index.ts';
import { sameSpec } from './spec-equal.ts';
import type { ProgressCounts } from './deployment-progress.ts';

/** How many canaries a deployment starting now gets (0: no canary phase). */
export function canaryCount(
  job: JobRecord,
  oldTasks: number,
  versions: readonly JobVersionRecord[],
  otherDeployments: readonly Deployment[],
  lastGoodVersion: number | undefined,
): number {
  const wanted = Math.min(job.spec.update.canary, job.spec.replicas);
  if (!(wanted > 0) || oldTasks === 0) return 0;
  const good = new Set<number>();
  if (lastGoodVersion !== undefined) good.add(lastGoodVersion);
  for (const d of otherDeployments) if (d.job === job.name && d.state === 'succeeded') good.add(d.version);
  good.delete(job.version);
  for (const v of versions) {
    if (good.has(v.version) && sameSpec(v.spec.task, job.spec.task)) return 0;
  }
  return Math.floor(wanted);
}

/** True while the deployment is in its canary phase or paused for promotion. */
export function awaitingPromotion(d: Pick<Deployment, 'phase'>): boolean {
  return d.phase === 'canary' || d.phase === 'paused';
}

export type PhaseChange = { to: 'paused' } | { to: 'rolling'; auto: boolean };

/**
 * The phase an in-progress canary deployment moves to, given how many current-spec tasks are
 * available now; undefined when it stays. 'paused' is sticky: once the canaries have been available
 * the deployment waits for promotion even if one of them flaps.
 */
export function phaseChange(
  d: Deployment,
  availableCurrent: number,
  autoPromote: boolean,
): PhaseChange | undefined {
  if (d.state !== 'in-progress' || !awaitingPromotion(d)) return undefined;
  const ready = d.phase === 'paused' || availableCurrent >= (d.canaries ?? 0);
  if (!ready) return undefined;
  if (autoPromote) return { to: 'rolling', auto: true };
  if (d.promoted === true) return { to: 'rolling', auto: false };
  return d.phase === 'canary' ? { to: 'paused' } : undefined;
}

/** The record's message while it waits on its canaries. */
export function canaryMessage(d: Deployment, c: ProgressCounts): string {
  const n = d.canaries ?? 0;
  const of = `${Math.min(c.healthy, n)}/${n} ${n === 1 ? 'canary' : 'canaries'} of v${d.version} available`;
  if (d.phase === 'paused') {
    return `paused for promotion: ${of}, ${c.old} old serving${d.promoted === true ? '' : '; promote to continue'}`;
  }
  return `canary: ${of} (${c.placed} placed, ${c.running} running), ${c.old} old serving`;
}

export type PromoteResult =
  { ok: true; deployment: Deployment; changed: boolean } | { ok: false; reason: string };

/**
 * What the promote command writes: the record with `promoted: true` (the next reconcile moves the
 * deployment on once its canaries are available). Refused when there is no canary deployment in
 * progress; promoting twice, or a deployment already past its canaries, changes nothing.
 */
export function promoteDeployment(d: Deployment | undefined, now: number): PromoteResult {
  if (d === undefined) return { ok: false, reason: 'the job has no deployment for its current version' };
  if (d.state !== 'in-progress') {
    return { ok: false, reason: `the deployment of v${d.version} is ${d.state}: nothing to promote` };
  }
  if (d.phase === undefined) {
    return { ok: false, reason: `the deployment of v${d.version} has no canaries to promote` };
  }
  if (d.phase === 'rolling' || d.promoted === true) return { ok: true, deployment: d, changed: false };
  return { ok: true, deployment: { ...d, promoted: true, updatedAt: now }, changed: true };
}

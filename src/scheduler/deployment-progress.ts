/**
 * The deployment record of one job version: its counts, when it is done, when it has failed.
 */
import type { Deployment, JobRecord, TaskView, UpdateSpec } from '../model/index.ts';
import { formatDuration } from '../lib/durations.ts';
import { crashLoopReason } from './task-state.ts';

export interface ProgressCounts {
  desired: number;
  /** Tasks of the current spec with a host. */
  placed: number;
  /** ... whose status says running. */
  running: number;
  /** ... that are available (healthy for at least minHealthy). */
  healthy: number;
  /** Tasks of older specs that still have desired 'run' (stopping ones are not counted: a task that
   * is slow to stop must not fail the rollout). */
  old: number;
}

export function isComplete(c: ProgressCounts): boolean {
  return c.healthy >= c.desired && c.old === 0;
}

export function progressMessage(version: number, c: ProgressCounts): string {
  return (
    `${c.healthy}/${c.desired} tasks of v${version} available ` +
    `(${c.placed} placed, ${c.running} running), ${c.old} old remaining`
  );
}

/** A fresh in-progress record for the job's current version. */
export function startDeployment(job: JobRecord, fromVersion: number, now: number): Deployment {
  return {
    job: job.name,
    version: job.version,
    fromVersion,
    state: 'in-progress',
    desired: job.spec.replicas,
    placed: 0,
    running: 0,
    healthy: 0,
    old: 0,
    message: 'starting',
    startedAt: now,
    updatedAt: now,
  };
}

export function withCounts(d: Deployment, c: ProgressCounts, now: number): Deployment {
  return {
    ...d,
    desired: c.desired,
    placed: c.placed,
    running: c.running,
    healthy: c.healthy,
    old: c.old,
    message: progressMessage(d.version, c),
    updatedAt: now,
  };
}

export function finish(
  d: Deployment,
  state: 'succeeded' | 'failed' | 'stopped' | 'superseded',
  message: string,
  now: number,
): Deployment {
  return { ...d, state, message, updatedAt: now, finishedAt: now };
}

/**
 * When an in-progress deployment fails for taking too long; undefined when it has no deadline. A
 * canary deployment paused for promotion has none (it waits for a human); after promotion the
 * deadline counts from `promotedAt`.
 */
export function deadlineOf(d: Deployment, update: Pick<UpdateSpec, 'deadlineMs'>): number | undefined {
  if (update.deadlineMs <= 0 || d.phase === 'paused') return undefined;
  const from = d.phase === 'rolling' && d.promotedAt !== undefined ? d.promotedAt : d.startedAt;
  return from + update.deadlineMs;
}

export type Failure = { kind: 'crash'; message: string } | { kind: 'deadline' };

/**
 * Whether an unfinished in-progress deployment has failed: a task of its version crash-loops or
 * failed (with why), or the deadline has passed. Undefined while it may still succeed.
 */
export function failureOf(
  d: Deployment,
  current: readonly TaskView[],
  update: Pick<UpdateSpec, 'deadlineMs'>,
  now: number,
): Failure | undefined {
  for (const t of current) {
    if (t.version !== d.version) continue; // kept tasks of an earlier version with the same spec
    const why = crashLoopReason(t);
    if (why !== undefined) return { kind: 'crash', message: why };
  }
  const deadline = deadlineOf(d, update);
  if (deadline !== undefined && now >= deadline) return { kind: 'deadline' };
  return undefined;
}

/** The failed record's message, with the counts it is left with. */
export function failureMessage(
  f: Failure,
  d: Deployment,
  counts: ProgressCounts,
  update: Pick<UpdateSpec, 'deadlineMs'>,
): string {
  if (f.kind === 'crash') return f.message;
  if (d.phase === 'canary') {
    const n = d.canaries ?? 0;
    return (
      `canaries not available within the deadline of ${formatDuration(update.deadlineMs)}: ` +
      `${Math.min(counts.healthy, n)}/${n} of v${d.version} available`
    );
  }
  return (
    `not finished within its deadline of ${formatDuration(update.deadlineMs)}: ` +
    `${counts.healthy}/${counts.desired} tasks of v${d.version} available, ${counts.old} old remaining`
  );
}

/** True when two records differ only in updatedAt (so there is nothing worth writing). */
export function sameRecord(a: Deployment | undefined, b: Deployment): boolean {
  if (a === undefined) return false;
  return (
    a.job === b.job &&
    a.version === b.version &&
    a.fromVersion === b.fromVersion &&
    a.state === b.state &&
    a.desired === b.desired &&
    a.placed === b.placed &&
    a.running === b.running &&
    a.healthy === b.healthy &&
    a.old === b.old &&
    a.message === b.message &&
    a.startedAt === b.startedAt &&
    a.finishedAt === b.finishedAt &&
    a.phase === b.phase &&
    a.canaries === b.canaries &&
    a.promoted === b.promoted &&
    a.promotedAt === b.promotedAt
  );
}

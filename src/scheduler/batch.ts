/**
 * Batch jobs (`type: batch`): each of `completions` indexes must be run once to a successful end
 * (exit code 0), at most `parallelism` tasks at a time; a failed run is retried after a backoff
 * (doubling) until `retries.limit`, past which the job fails; past its `deadline` it fails too.
 * Progress lives on the version's deployment record (`Deployment.batch`), updated idempotently: a
 * run's outcome is recorded by its index and attempt number, so a plan applied twice or in parts
 * never counts one twice. Services rank above batch work: tasks in `input.preempt` are stopped
 * (SIGTERM, grace period) and their indexes run again later, not counted as failures.
 */
import { backoffDelay } from '../lib/backoff.ts';
import { formatDuration } from '../lib/durations.ts';
import {
  placementExplanation,
  type BatchIndex,
  type BatchProgress,
  type BatchSpec,
  type Deployment,
  type Task,
  type TaskView,
} from '../model/index.ts';
import { finish, startDeployment } from './deployment-progress.ts';
import type { PlanBuilder } from './plan-builder.ts';
import { allocatorPlacement, type Placer } from './placement.ts';
import { label, taskRecord } from './task-state.ts';
import type { ReconcileInput } from './types.ts';

/** How a batch task's run ended, from its agent's status; undefined while it has not ended. */
export function runOutcome(task: TaskView): { ok: boolean; detail: string } | undefined {
  const s = task.status;
  if (s === undefined || s.nextRestartAt !== undefined) return undefined;
  if (s.state !== 'stopped' && s.state !== 'failed') return undefined;
  if (s.state === 'stopped' && s.exitCode === 0) return { ok: true, detail: 'exit code 0' };
  return { ok: false, detail: s.message ?? s.reason ?? s.state };
}

/** A fresh progress record: every index waiting to run. */
export function freshProgress(completions: number): BatchProgress {
  return {
    indexes: Array.from({ length: completions }, () => ({ failures: 0 })),
    succeeded: 0,
    failed: 0,
    preempted: 0,
  };
}

/** The counts derived from the indexes (succeeded completions, failed runs). */
export function tally(p: BatchProgress): BatchProgress {
  let succeeded = 0;
  let failed = 0;
  for (const i of p.indexes) {
    if (i.outcome === 'succeeded') succeeded++;
    failed += i.failures;
  }
  return { ...p, succeeded, failed };
}

/** Delay before attempt `failures + 1` of an index that failed `failures` times. */
export function retryDelay(spec: BatchSpec, failures: number): number {
  return backoffDelay(failures - 1, { initialMs: spec.backoffMs, maxMs: spec.maxBackoffMs });
}

/** One line of where a batch run stands. */
export function batchMessage(p: BatchProgress, total: number, active: number): string {
  return (
    `${p.succeeded}/${total} completions succeeded, ${p.failed} failed run${p.failed === 1 ? '' : 's'}` +
    `, ${active} running${p.preempted > 0 ? `, ${p.preempted} preempted` : ''}`
  );
}

/** Records a finished run on its index (idempotent). Returns the index's new state. */
function recordRun(
  spec: BatchSpec,
  index: BatchIndex,
  attempt: number,
  ok: boolean,
  now: number,
): BatchIndex {
  if (index.outcome !== undefined) return index;
  if (ok) return { failures: index.failures, outcome: 'succeeded' };
  if (attempt <= index.failures) return index; // already counted
  const failures = attempt;
  if (failures > spec.retryLimit) return { failures, outcome: 'failed' };
  return { failures, retryAt: now + retryDelay(spec, failures) };
}

/** Decides one pass of an active batch job; `running` are its tasks with desired 'run'. */
export function reconcileBatch(
  input: ReconcileInput,
  running: readonly TaskView[],
  record: Deployment | undefined,
  out: PlanBuilder,
): void {
  const { job, now } = input;
  const spec = job.spec.batch;
  if (spec === undefined) return;
  const fresh = record === undefined || record.state === 'stopped' || record.state === 'superseded';
  const base = fresh ? startDeployment(job, 0, now) : record;
  let progress = base.batch ?? freshProgress(spec.completions);
  const indexes = [...progress.indexes];

  const sorted = sortRuns(input, running, spec, progress, indexes, out);
  const mine = sorted.mine;
  progress = tally({ ...sorted.progress, indexes });

  // Finished: nothing more runs. (A record already finished is history.)
  const gaveUp = indexes.findIndex((x) => x.outcome === 'failed');
  const deadline = spec.deadlineMs === undefined ? undefined : base.startedAt + spec.deadlineMs;
  let state: Deployment['state'] = base.state === 'in-progress' ? 'in-progress' : base.state;
  let message: string | undefined;
  if (state === 'in-progress') {
    if (progress.succeeded === spec.completions) {
      state = 'succeeded';
      message = `all ${spec.completions} completions succeeded (${progress.failed} failed runs retried)`;
    } else if (gaveUp >= 0) {
      state = 'failed';
      message = `completion ${gaveUp} failed ${indexes[gaveUp]?.failures ?? 0} times (retries.limit ${spec.retryLimit})`;
    } else if (deadline !== undefined && now >= deadline) {
      state = 'failed';
      message = `not finished within its deadline of ${formatDuration(spec.deadlineMs ?? 0)}`;
    }
  }
  if (state !== 'in-progress') {
    for (const t of mine) out.stop(t, `batch job ${state === 'succeeded' ? 'finished' : 'failed'}`);
    const done: Deployment = {
      ...base,
      batch: progress,
      desired: spec.completions,
      healthy: progress.succeeded,
    };
    if (base.state === 'in-progress' || fresh) {
      out.plan.deployment = finish(done, state === 'succeeded' ? 'succeeded' : 'failed', message ?? '', now);
      out.event(`batch.${state}`, `batch job ${job.name} v${job.version} ${state}: ${message ?? ''}`);
    } else if (JSON.stringify(done.batch) !== JSON.stringify(record?.batch)) {
      out.plan.deployment = { ...done, updatedAt: now };
    }
    return;
  }

  // Place the indexes waiting for a host, then start pending ones up to the parallelism.
  const active = placeAndStart(input, spec, mine, indexes, deadline, out);

  const counts = {
    desired: spec.completions,
    placed: mine.filter((t) => t.host !== null).length,
    running: mine.filter((t) => t.status?.state === 'running').length,
    healthy: progress.succeeded,
    old: 0,
  };
  const next: Deployment = {
    ...base,
    ...counts,
    batch: progress,
    message: batchMessage(progress, spec.completions, active),
  };
  const changed =
    fresh ||
    next.message !== base.message ||
    JSON.stringify(next.batch) !== JSON.stringify(base.batch) ||
    next.placed !== base.placed ||
    next.running !== base.running;
  if (changed) {
    out.plan.deployment = { ...next, updatedAt: now };
    if (fresh)
      out.event(
        'batch.started',
        `batch job ${job.name} v${job.version} started: ${spec.completions} completions, parallelism ${spec.parallelism}`,
      );
  }
}

/**
 * Sorts a pass's runs: tasks of another version, and preempted ones, stop; ended ones are recorded
 * in `indexes` (updated in place) and removed. Returns the runs still going.
 */
function sortRuns(
  input: ReconcileInput,
  running: readonly TaskView[],
  spec: BatchSpec,
  progress: BatchProgress,
  indexes: BatchIndex[],
  out: PlanBuilder,
): { mine: TaskView[]; progress: BatchProgress } {
  const { job, now } = input;
  const mine: TaskView[] = [];
  for (const t of running) {
    if (t.version !== job.version || t.batch === undefined || t.batch.index >= indexes.length) {
      out.stop(t, `replaced by v${job.version}`);
      continue;
    }
    const why = input.preempt?.get(t.id);
    if (why !== undefined && t.host !== null) {
      out.stop(t, why, 'task.preempted');
      (out.plan.preempted ??= {})[t.id] = why;
      progress = { ...progress, preempted: progress.preempted + 1 };
      continue;
    }
    const ended = runOutcome(t);
    if (ended === undefined) {
      mine.push(t);
      continue;
    }
    const i = t.batch.index;
    const before = indexes[i] ?? { failures: 0 };
    indexes[i] = recordRun(spec, before, t.batch.attempt, ended.ok, now);
    const what = ended.ok ? 'succeeded' : `failed (${ended.detail})`;
    out.remove(
      t,
      ended.ok ? 'task.succeeded' : 'task.failed',
      `task ${label(t)} (completion ${i}, attempt ${t.batch.attempt}) ${what}`,
    );
  }
  return { mine, progress };
}

/**
 * Places the runs waiting for a host, then starts pending indexes up to the parallelism (a retry
 * waits for its time: the pass asks to be woken then). Returns how many runs are active.
 */
function placeAndStart(
  input: ReconcileInput,
  spec: BatchSpec,
  mine: readonly TaskView[],
  indexes: readonly BatchIndex[],
  deadline: number | undefined,
  out: PlanBuilder,
): number {
  const { job, now } = input;
  const placer = makePlacer(input, mine);
  let active = 0;
  const held = new Set<number>();
  for (const t of mine) {
    held.add(t.batch?.index ?? -1);
    active++;
    if (t.host !== null) continue;
    const r = placer.place(t.spec.resources, t.id);
    const task = taskRecord(t);
    if (r.host !== null) {
      delete task.unplaced;
      delete task.explanation;
      task.host = r.host;
      out.upsert(task, 'task.placed', `placed task ${label(task)} on ${r.host}`);
    } else if (r.reason !== t.unplaced) {
      task.unplaced = r.reason;
      if (r.explanation !== undefined) task.explanation = placementExplanation(r.explanation);
      out.upsert(task, 'task.unplaceable', `task ${label(task)} is not placed: ${r.reason}`);
    }
  }
  let wake = deadline;
  for (let i = 0; i < indexes.length && active < spec.parallelism; i++) {
    const x = indexes[i];
    if (x === undefined || x.outcome !== undefined || held.has(i)) continue;
    if (x.retryAt !== undefined && x.retryAt > now) {
      wake = wake === undefined ? x.retryAt : Math.min(wake, x.retryAt);
      continue;
    }
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
      batch: { index: i, attempt: x.failures + 1 },
    };
    if (r.host === null) {
      task.unplaced = r.reason;
      if (r.explanation !== undefined) task.explanation = placementExplanation(r.explanation);
    }
    active++;
    const attempt = x.failures > 0 ? ` (retry ${x.failures})` : '';
    out.upsert(
      task,
      r.host === null ? 'task.unplaceable' : 'task.created',
      `created task ${label(task)} for completion ${i}${attempt}${r.host === null ? `, not placed: ${r.reason}` : ` on ${r.host}`}`,
    );
  }
  out.wake(wake, now);
  return active;
}

function makePlacer(input: ReconcileInput, mine: readonly TaskView[]): Placer {
  const { job } = input;
  const perHost = new Map<string, number>();
  for (const t of mine) if (t.host !== null) perHost.set(t.host, (perHost.get(t.host) ?? 0) + 1);
  return (input.placement ?? allocatorPlacement)(
    input.hosts,
    perHost,
    { name: job.name, version: job.version, placement: job.spec.placement, ports: job.spec.task.ports },
    input.fleet,
  );
}

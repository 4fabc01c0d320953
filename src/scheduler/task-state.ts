/** Facts about one task, read from its record and its agent-reported status. */
import type { Task, TaskStatus, TaskView } from '../model/index.ts';
import type { HostLookup } from './types.ts';

/** A task of the version being rolled out with at least this many restarts and not healthy is
 * crash-looping: its deployment fails. */
export const CRASH_LOOP_RESTARTS = 3;

/** Why a placed task is lost (its host is down or no longer known), or undefined. */
export function lostReason(task: TaskView, hosts: HostLookup): string | undefined {
  if (task.host === null) return undefined;
  const host = hosts.get(task.host);
  if (host === undefined) return `host ${task.host} is gone`;
  if (host.state === 'down') return `host ${task.host} is down`;
  return undefined;
}

/**
 * For a task whose desired state is 'stop' (on a live host): why its record can be removed now, or
 * undefined until then. Only the agent's word 'stopped' counts, which it says once the process is
 * stopped and every trace of it (cgroup, mounts, network namespace) is gone: a task that never
 * reported, or that 'failed' (its restart may be pending, its traces are still there), is still the
 * agent's to stop. A task on a host that is down is handled as lost instead.
 */
export function goneReason(task: TaskView): string | undefined {
  if (task.host === null) return 'never placed';
  const s = task.status;
  if (s?.state === 'stopped') return `stopped${exitDetail(s)}`;
  return undefined;
}

/**
 * From when the task counts as available given its current status: desired 'run', placed, state
 * 'running' and healthy, for at least `minHealthyMs` (measured from status.healthySince, or
 * status.startedAt when the agent did not report it). Undefined when it is not running healthy now.
 * Returns -Infinity when no minimum applies.
 */
export function availableFrom(task: TaskView, minHealthyMs: number): number | undefined {
  if (task.desired !== 'run' || task.host === null) return undefined;
  const s = task.status;
  if (s === undefined || s.state !== 'running' || !s.healthy) return undefined;
  if (minHealthyMs <= 0) return -Infinity;
  const since = s.healthySince ?? s.startedAt;
  return since === undefined ? undefined : since + minHealthyMs;
}

export function isAvailable(task: TaskView, now: number, minHealthyMs: number): boolean {
  const from = availableFrom(task, minHealthyMs);
  return from !== undefined && from <= now;
}

/** Why a task of the version being rolled out makes its deployment fail, or undefined. */
export function crashLoopReason(task: TaskView): string | undefined {
  const s = task.status;
  if (s === undefined) return undefined;
  // A failed task with a restart coming (nextRestartAt) gets CRASH_LOOP_RESTARTS chances: one crash
  // for a passing reason must not fail a rollout. One with no restart coming has failed for good.
  if (s.state === 'failed' && s.nextRestartAt === undefined) {
    return `task ${task.id} failed${detail(s)} after ${s.restarts} restart${s.restarts === 1 ? '' : 's'}`;
  }
  if (s.restarts >= CRASH_LOOP_RESTARTS && !s.healthy) {
    return `task ${task.id} is crash-looping: ${s.restarts} restarts, not healthy${detail(s)}`;
  }
  return undefined;
}

/** Rank for choosing which tasks to stop first: never placed, then not running, then running but
 * not available, then available. */
function stopRank(task: TaskView, available: boolean): number {
  if (task.host === null) return 0;
  if (task.status === undefined || task.status.state !== 'running') return 1;
  return available ? 3 : 2;
}

/**
 * Order in which to stop tasks: unavailable ones first (unplaced, then not running, then
 * unhealthy), then those `first` prefers (tasks leaving a draining host), then older versions, then
 * the newest; ties broken by id so the order is total.
 */
export function stopOrder(
  available: (t: TaskView) => boolean,
  first: (t: TaskView) => boolean = () => false,
): (a: TaskView, b: TaskView) => number {
  return (a, b) =>
    stopRank(a, available(a)) - stopRank(b, available(b)) ||
    Number(first(b)) - Number(first(a)) ||
    a.version - b.version ||
    b.createdAt - a.createdAt ||
    compareStrings(a.id, b.id);
}

/** Oldest first, ties by id: the order tasks are considered in. */
export function byAge(a: TaskView, b: TaskView): number {
  return a.createdAt - b.createdAt || compareStrings(a.id, b.id);
}

export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The task record (what the scheduler writes) of a task view, without its observed status. */
export function taskRecord(view: TaskView): Task {
  const task: Task = {
    id: view.id,
    job: view.job,
    version: view.version,
    host: view.host,
    desired: view.desired,
    spec: view.spec,
    createdAt: view.createdAt,
  };
  if (view.unplaced !== undefined) task.unplaced = view.unplaced;
  if (view.explanation !== undefined) task.explanation = view.explanation;
  if (view.batch !== undefined) task.batch = view.batch;
  if (view.preempted !== undefined) task.preempted = view.preempted;
  return task;
}

/** Short task label for messages: "abc12 (v3)". */
export function label(task: Pick<Task, 'id' | 'version'>): string {
  return `${task.id} (v${task.version})`;
}

function exitDetail(s: TaskStatus): string {
  return s.exitCode === undefined ? '' : ` (exit code ${s.exitCode})`;
}

function detail(s: TaskStatus): string {
  const parts: string[] = [];
  if (s.reason !== undefined) parts.push(s.reason);
  if (s.exitCode !== undefined) parts.push(`exit code ${s.exitCode}`);
  const head = parts.join(', ');
  const msg = s.message !== undefined && s.message !== '' ? s.message : '';
  if (head === '' && msg === '') return '';
  return ` (${head}${head !== '' && msg !== '' ? ': ' : ''}${msg})`;
}

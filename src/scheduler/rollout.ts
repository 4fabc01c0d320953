/**
 * The rolling-update budget and the decisions it allows: which tasks to stop and how many new ones
 * to start, for one pass. Pure arithmetic over the tasks that have desired 'run'.
 */
import type { TaskView, UpdateSpec } from '../model/index.ts';
import { stopOrder } from './task-state.ts';

export interface RolloutBudget {
  replicas: number;
  /** Effective surge: when both maxSurge and maxUnavailable are 0 the rollout could never move, so
   * maxSurge counts as 1 (availability is what the user asked to keep). */
  maxSurge: number;
  maxUnavailable: number;
  /** The scheduler never stops an available task if that leaves fewer available than this. */
  minAvailable: number;
  /** The scheduler never starts a task if that makes more tasks with desired 'run' than this. */
  maxRun: number;
}

function count(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}

export function rolloutBudget(
  replicas: number,
  update: Pick<UpdateSpec, 'maxSurge' | 'maxUnavailable'>,
): RolloutBudget {
  const r = count(replicas);
  const maxUnavailable = count(update.maxUnavailable);
  let maxSurge = count(update.maxSurge);
  if (maxSurge === 0 && maxUnavailable === 0) maxSurge = 1;
  return {
    replicas: r,
    maxSurge,
    maxUnavailable,
    minAvailable: Math.max(0, r - maxUnavailable),
    maxRun: r + maxSurge,
  };
}

export type StopWhy =
  | 'surplus'
  | 'old-unavailable'
  | 'old-replaced'
  /** An old task on a draining host, when no task of its spec may replace it (canary phase or
   * failed deployment): stopped within the budget. */
  | 'old-drained'
  /** An old task stopped to make room (within maxSurge) for a canary. */
  | 'canary-room';

/**
 * What happens to tasks of other specs this pass:
 * - 'replace': the rolling update (stop unavailable ones, available ones within the budget);
 * - 'room': canary phase: stop only as many as the canaries need room for (within maxRun);
 * - 'keep': failed deployment: leave them.
 * In 'room' and 'keep', old tasks on a draining host (`leaving`) are stopped within the budget.
 */
export type OldTasks = 'replace' | 'room' | 'keep';

export interface RolloutInput {
  budget: RolloutBudget;
  /** Tasks with desired 'run' that run the current spec and stay where they are. */
  current: readonly TaskView[];
  /** Tasks with desired 'run' of other specs, to be replaced. */
  old: readonly TaskView[];
  available: (t: TaskView) => boolean;
  /** Failed deployment: leave old tasks alone and never grow the current ones past `currentCap`.
   * Same as `oldTasks: 'keep'` (which takes precedence when given). */
  frozen: boolean;
  /** Most current tasks (evicting ones included) there may be after this pass (Infinity: no cap). */
  currentCap: number;
  oldTasks?: OldTasks;
  /**
   * Current-spec tasks with desired 'run' that must move (their host drains, or they crash-loop
   * there). They count towards the run and availability budgets; this function neither stops them
   * nor creates their replacements (the caller does both, with a placer).
   */
  evicting?: readonly TaskView[];
  /** Old tasks on a draining host: stopped first among equals. */
  leaving?: (t: TaskView) => boolean;
}

export interface RolloutDecision {
  stop: { task: TaskView; why: StopWhy }[];
  /** How many new tasks of the current spec to start (not counting replacements of evicting ones). */
  create: number;
  /** Tasks available after the stops (what further stops must keep at least minAvailable of). */
  available: number;
  /** Tasks with desired 'run' after the stops and before any start. */
  running: number;
}

/**
 * One pass of the rolling update:
 * 1. surplus current tasks beyond `replicas` are stopped (unavailable ones first, so this never
 *    takes availability below min(replicas, what it was));
 * 2. old tasks: per `oldTasks` (see OldTasks); with 'replace', those not available are stopped
 *    (that costs no availability) and available ones while at least minAvailable stay available;
 * 3. new tasks are started up to `replicas` (less the evicting tasks, whose replacements the caller
 *    starts), never past maxRun tasks with desired 'run' nor past `currentCap` current tasks.
 * With maxSurge 0 this stops old tasks first and starts their replacements in the same pass.
 */
export function planRollout(input: RolloutInput): RolloutDecision {
  const { budget, available } = input;
  const evicting = input.evicting ?? [];
  const leaving = input.leaving ?? (() => false);
  const mode: OldTasks = input.oldTasks ?? (input.frozen ? 'keep' : 'replace');
  const order = stopOrder(available, leaving);
  const stop: RolloutDecision['stop'] = [];
  let availableCount = 0;
  for (const list of [input.current, input.old, evicting])
    for (const t of list) if (available(t)) availableCount++;
  let running = input.current.length + input.old.length + evicting.length;
  let current = input.current.length;
  const stopped = new Set<string>();
  const stopTask = (task: TaskView, why: StopWhy): void => {
    stop.push({ task, why });
    stopped.add(task.id);
    if (available(task)) availableCount--;
    running--;
  };
  /** Stopping it keeps at least minAvailable available (or it is not available anyway). */
  const affordable = (task: TaskView): boolean =>
    !available(task) || availableCount - 1 >= budget.minAvailable;

  if (current > budget.replicas) {
    const surplus = [...input.current].sort(order).slice(0, current - budget.replicas);
    for (const task of surplus) {
      stopTask(task, 'surplus');
      current--;
    }
  }

  const olds = [...input.old].sort(order);
  if (mode === 'replace') {
    for (const task of olds) {
      if (!available(task)) stopTask(task, 'old-unavailable');
      else if (affordable(task)) stopTask(task, 'old-replaced');
      else break; // the rest are available too (the order puts unavailable ones first)
    }
  } else {
    for (const task of olds) if (leaving(task) && affordable(task)) stopTask(task, 'old-drained');
    if (mode === 'room') {
      const want = Math.min(input.currentCap, budget.replicas) - current - evicting.length;
      let short = want - (budget.maxRun - running);
      for (const task of olds) {
        if (short <= 0) break;
        if (stopped.has(task.id)) continue;
        if (!affordable(task)) break;
        stopTask(task, 'canary-room');
        short--;
      }
    }
  }

  const create = Math.max(
    0,
    Math.min(
      budget.replicas - current - evicting.length,
      budget.maxRun - running,
      input.currentCap - current - evicting.length,
    ),
  );
  return { stop, create, available: availableCount, running };
}

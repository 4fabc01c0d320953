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

export type StopWhy = 'surplus' | 'old-unavailable' | 'old-replaced';

export interface RolloutInput {
  budget: RolloutBudget;
  /** Tasks with desired 'run' that run the current spec. */
  current: readonly TaskView[];
  /** Tasks with desired 'run' of other specs, to be replaced. */
  old: readonly TaskView[];
  available: (t: TaskView) => boolean;
  /** Failed deployment: leave old tasks alone and never grow the current ones past `currentCap`. */
  frozen: boolean;
  /** Most current tasks there may be after this pass (Infinity when not frozen). */
  currentCap: number;
}

export interface RolloutDecision {
  stop: { task: TaskView; why: StopWhy }[];
  /** How many new tasks of the current spec to start. */
  create: number;
}

/**
 * One pass of the rolling update:
 * 1. surplus current tasks beyond `replicas` are stopped (unavailable ones first, so this never
 *    takes availability below min(replicas, what it was));
 * 2. old tasks that are not available are stopped (that costs no availability);
 * 3. available old tasks are stopped while at least minAvailable stay available;
 * 4. new tasks are started up to `replicas`, never past maxRun tasks with desired 'run'.
 * Steps 2 and 3 are skipped when frozen. With maxSurge 0 this stops old tasks first and starts their
 * replacements in the same pass.
 */
export function planRollout(input: RolloutInput): RolloutDecision {
  const { budget, available } = input;
  const order = stopOrder(available);
  const stop: RolloutDecision['stop'] = [];
  let availableCount = 0;
  for (const t of input.current) if (available(t)) availableCount++;
  for (const t of input.old) if (available(t)) availableCount++;
  let running = input.current.length + input.old.length;
  let current = input.current.length;

  if (current > budget.replicas) {
    const surplus = [...input.current].sort(order).slice(0, current - budget.replicas);
    for (const task of surplus) {
      stop.push({ task, why: 'surplus' });
      if (available(task)) availableCount--;
      running--;
      current--;
    }
  }

  if (!input.frozen) {
    for (const task of [...input.old].sort(order)) {
      if (!available(task)) {
        stop.push({ task, why: 'old-unavailable' });
        running--;
      } else if (availableCount - 1 >= budget.minAvailable) {
        stop.push({ task, why: 'old-replaced' });
        availableCount--;
        running--;
      } else {
        break; // the rest are available too (the order puts unavailable ones first)
      }
    }
  }

  const create = Math.max(
    0,
    Math.min(budget.replicas - current, budget.maxRun - running, input.currentCap - current),
  );
  return { stop, create };
}

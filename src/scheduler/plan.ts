import type { ReconcilePlan } from './types.ts';

/** True when the plan has nothing to write (events and wakeAt aside): the job has converged, or is
 * waiting on agents or the clock. */
export function isEmptyPlan(plan: ReconcilePlan): boolean {
  return (
    plan.create.length === 0 &&
    plan.stop.length === 0 &&
    plan.remove.length === 0 &&
    plan.deployment === undefined &&
    plan.supersede.length === 0 &&
    plan.rollbackTo === undefined &&
    (plan.volumes === undefined || plan.volumes.length === 0)
  );
}

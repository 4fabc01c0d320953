/**
 * The scheduler: pure decisions for one job at a time. State in (job, versions, tasks with status,
 * hosts, deployment record, clock, id source), plan out (tasks to create/stop/remove, deployment
 * record, rollback request, events). No I/O: the server's loop reads the store, calls `reconcile`
 * and writes the plan.
 *
 * Within one budget (maxSurge, maxUnavailable) it rolls out new versions (canary.ts: canaries and
 * promotion), moves tasks off draining hosts (drain.ts: with a deadline after which the drain is
 * forced) and reschedules tasks that keep crashing on their host (reschedule.ts).
 */
export { reconcile } from './reconcile.ts';
export type {
  Disruption,
  DisruptionOp,
  HostLookup,
  PlanEvent,
  ReconcileInput,
  ReconcilePlan,
} from './types.ts';
export { isEmptyPlan } from './plan.ts';
export { allocatorPlacement, spreadPlacement } from './placement.ts';
export type { PlaceHints, PlacementJob, PlacementResult, PlacementStrategy, Placer } from './placement.ts';
export { planRollout, rolloutBudget } from './rollout.ts';
export type { OldTasks, RolloutBudget, RolloutDecision, RolloutInput, StopWhy } from './rollout.ts';
export { drainForced, drainingHost, drainProgress, type DrainProgress } from './drain.ts';
export {
  awaitingPromotion,
  canaryCount,
  canaryMessage,
  phaseChange,
  promoteDeployment,
  type PhaseChange,
  type PromoteResult,
} from './canary.ts';
export { DEFAULT_RESCHEDULE_AFTER, rescheduleAfter, rescheduleReason } from './reschedule.ts';
export { chooseRollback } from './rollback.ts';
export type { RollbackChoice } from './rollback.ts';
export { deadlineOf, isComplete, progressMessage, type ProgressCounts } from './deployment-progress.ts';
export {
  availableFrom,
  CRASH_LOOP_RESTARTS,
  crashLoopReason,
  isAvailable,
  lostReason,
} from './task-state.ts';
export { canonicalJson, sameSpec } from './spec-equal.ts';
export { batchMessage, freshProgress, reconcileBatch, retryDelay, runOutcome, tally } from './batch.ts';
export {
  fitsOn,
  planPreemption,
  victimOrder,
  type Preemption,
  type PreemptionCandidate,
  type PreemptionInput,
} from './preemption.ts';
export {
  BATCH_POOL,
  DEFAULT_POOL,
  DEFAULT_RECALL_WITHIN_MS,
  effectivePool,
  hostsForPool,
  nextScheduleChange,
  ownPool,
  planLoans,
  scheduledReplicas,
  type Loan,
  type LoanHost,
  type LoanInput,
  type LoanPlan,
} from './elastic.ts';
export {
  SCALE_TOLERANCE,
  decideScale,
  recommendReplicas,
  type Recommendation,
  type ScaleDecision,
  type ScaleInput,
} from './autoscale.ts';

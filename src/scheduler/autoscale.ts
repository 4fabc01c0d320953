/**
 * Scaling by a counter, pure (docs/elastic.md): from the job's total of a series (the per-second
 * rate of a counter summed over its tasks, or a gauge's sum) to a number of replicas, as Kubernetes'
 * HorizontalPodAutoscaler does for an average value per pod: `ceil(total / target)`, within the
 * bounds, left alone inside a 10% tolerance, and a scale-down damped by the highest recommendation of
 * the last `scaleDownDelay`. State in (the recommendations so far), decision out; no clock of its own.
 */
import type { MetricScalingSpec } from '../model/index.ts';

/** A ratio this close to 1 changes nothing (Kubernetes' --horizontal-pod-autoscaler-tolerance). */
export const SCALE_TOLERANCE = 0.1;

/** One recommendation, kept for the scale-down window. */
export interface Recommendation {
  at: number;
  replicas: number;
}

export interface ScaleInput {
  spec: MetricScalingSpec;
  minReplicas: number;
  maxReplicas: number;
  /** The replicas the job runs now (the last decision, or its `replicas` within the bounds). */
  current: number;
  /** The job's total: summed rate or gauge; undefined when no point was found in the window. */
  total: number | undefined;
  /** Earlier recommendations (any order); those older than the scale-down delay are dropped. */
  history: readonly Recommendation[];
  now: number;
}

export interface ScaleDecision {
  /** The replicas to run. */
  replicas: number;
  /** What the metric alone asks for (before damping); undefined without data. */
  recommended: number | undefined;
  /** The history to keep for the next decision. */
  history: Recommendation[];
  /** Why, in words (for the event and the log). */
  reason: string;
}

const clamp = (n: number, min: number, max: number): number => Math.min(max, Math.max(min, n));

/** The replicas the metric asks for, before damping. */
export function recommendReplicas(
  i: Pick<ScaleInput, 'spec' | 'minReplicas' | 'maxReplicas' | 'current'>,
  total: number,
): number {
  const current = clamp(i.current, i.minReplicas, i.maxReplicas);
  if (current > 0) {
    const ratio = total / (current * i.spec.target);
    if (Math.abs(ratio - 1) <= SCALE_TOLERANCE) return current;
  }
  return clamp(Math.ceil(total / i.spec.target - 1e-9), i.minReplicas, i.maxReplicas);
}

/** The decision for one job at `now`. */
export function decideScale(i: ScaleInput): ScaleDecision {
  const current = clamp(i.current, i.minReplicas, i.maxReplicas);
  const kept = i.history.filter((r) => r.at > i.now - i.spec.scaleDownDelayMs && r.at <= i.now);
  const what = `${i.spec.name}${i.spec.rate ? ' rate' : ''}`;
  if (i.total === undefined) {
    return {
      replicas: current,
      recommended: undefined,
      history: kept,
      reason: `no points of ${what} in the last ${Math.round(i.spec.windowMs / 1000)} s: replicas left at ${current}`,
    };
  }
  const recommended = recommendReplicas(i, i.total);
  const history = [...kept, { at: i.now, replicas: recommended }];
  // Up at once; down only as far as the highest recommendation within the delay allows.
  const replicas =
    recommended >= current ? recommended : Math.min(current, Math.max(...history.map((r) => r.replicas)));
  const perTask = current > 0 ? ` (${(i.total / current).toFixed(2)} per replica)` : '';
  const held = replicas > recommended ? `; held at ${replicas} by the scale-down delay` : '';
  return {
    replicas,
    recommended,
    history,
    reason: `${what} ${i.total.toFixed(2)}${perTask}, target ${i.spec.target} per replica: ${recommended} recommended${held}`,
  };
}

/**
 * A job with `scaling`, as the scheduler decides it at a moment: its replicas by the schedule, or by
 * the autoscaler's decision for a metric (src/server/autoscaler.ts).
 */
import type { JobRecord } from '../model/index.ts';
import { nextScheduleChange, scheduledReplicas } from '../scheduler/index.ts';

export function jobAsScheduled(
  job: JobRecord,
  now: number,
  byMetric?: number,
): { job: JobRecord; nextChange?: number } {
  const scaling = job.spec.scaling;
  if (scaling === undefined || job.spec.batch !== undefined) return { job };
  const replicas =
    scaling.metric !== undefined && byMetric !== undefined
      ? byMetric
      : scheduledReplicas(job.spec.replicas, scaling, now);
  const next = nextScheduleChange(scaling, now);
  const scaled = replicas === job.spec.replicas ? job : { ...job, spec: { ...job.spec, replicas } };
  return next === undefined ? { job: scaled } : { job: scaled, nextChange: next };
}

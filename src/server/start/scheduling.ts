/** This replica's scheduler loop and the autoscaler that feeds it. */
import type { Clock, Logger } from '../../lib/index.ts';
import type { JobRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { ControlPlaneMetrics } from '../../telemetry/server/index.ts';
import { Autoscaler, type MetricsReader } from '../autoscaler.ts';
import { SchedulerLoop } from '../scheduler-loop.ts';
import type { Replica } from '../shards/index.ts';
import type { EventLog } from '../state/events.ts';

/** The autoscaler and the scheduler (each reads the other), for the jobs of the shards `r` owns. */
export function newScheduling(
  o: { recallWithinMs?: number },
  p: {
    store: Store;
    clock: Clock;
    logger: Logger;
    events: EventLog;
    metrics: ControlPlaneMetrics;
    replicaId: string;
    r: Replica;
    readMetrics: MetricsReader;
  },
): { autoscaler: Autoscaler; scheduler: SchedulerLoop } {
  const { store, clock, logger, events, metrics, replicaId, r, readMetrics } = p;
  const autoscaler: Autoscaler = new Autoscaler({
    jobs: (): JobRecord[] => [...scheduler.cache.jobs.values()].map((e) => e.value),
    runningTasks: (job) =>
      [...(scheduler.cache.tasks.get(job)?.values() ?? [])].filter((t) => t.value.desired !== 'stop').length,
    owns: (job) => r.fenceFor(job) !== undefined,
    read: readMetrics,
    changed: (job) => scheduler.jobChanged(job),
    events,
    clock,
    logger: logger.child({ part: 'autoscaler' }),
  });
  const scheduler: SchedulerLoop = new SchedulerLoop({
    autoscale: autoscaler,
    metrics,
    store,
    clock,
    logger: logger.child({ part: 'scheduler' }),
    events,
    ownership: r,
    replicaId,
    ...(o.recallWithinMs === undefined ? {} : { recallWithinMs: o.recallWithinMs }),
  });
  return { autoscaler, scheduler };
}

/** The server's long-running loops, started together and awaited together at close. */
import type { Clock, Logger } from '../../lib/index.ts';
import type { Store } from '../../store/index.ts';
import type { Distributor } from '../../configdist/server/index.ts';
import type { TelemetryService } from '../../telemetry/server/index.ts';
import { runTokenSweeper } from '../../auth/index.ts';
import type { ApiAuth } from '../api.ts';
import type { Autoscaler, MetricsReader } from '../autoscaler.ts';
import type { SharedImages } from '../images/index.ts';
import { runRemediation } from '../remediation/loop.ts';
import type { SchedulerLoop } from '../scheduler-loop.ts';
import { runBrokerDuties, type Replica } from '../shards/index.ts';
import type { EventLog } from '../state/events.ts';
import type { StorageGuard } from '../storage/index.ts';

/** Starts every loop of the server on `signal`; they end when it aborts. */
export function runServerLoops(
  o: { remediationIntervalMs?: number; keepEvents?: number; keepAudit?: number; brokerIntervalMs?: number },
  p: {
    store: Store;
    clock: Clock;
    logger: Logger;
    events: EventLog;
    auth: ApiAuth | undefined;
    r: Replica;
    scheduler: SchedulerLoop;
    autoscaler: Autoscaler;
    distributor: Distributor;
    guard: StorageGuard | undefined;
    images: SharedImages | undefined;
    telemetry: TelemetryService | undefined;
    logTables: { run: (store: Store, signal: AbortSignal) => Promise<void>[] } | undefined;
    readMetrics: MetricsReader;
  },
  signal: AbortSignal,
): Promise<void>[] {
  const { store, clock, logger, events, auth, r, scheduler, autoscaler, distributor } = p;
  const { guard, images, telemetry, logTables, readMetrics } = p;
  const loops = [
    ...(auth ? [auth.tokens.run(signal), runTokenSweeper({ store, clock, logger }, signal)] : []),
    r.run(signal),
    scheduler.run(signal),
    autoscaler.run(signal),
    distributor.run(signal),
    ...(guard ? [guard.run(signal)] : []),
    ...(images ? [images.run(signal)] : []),
    ...(telemetry ? [telemetry.run(signal)] : []),
    ...(logTables ? logTables.run(store, signal) : []),
    runRemediation(
      {
        store,
        replica: r,
        clock,
        events,
        logger: logger.child({ part: 'remediation' }),
        intervalMs: o.remediationIntervalMs ?? 10_000,
        ...(telemetry ? { read: readMetrics } : {}),
      },
      signal,
    ),
    runBrokerDuties(
      {
        store,
        replica: r,
        logger: logger.child({ part: 'broker' }),
        keepEvents: o.keepEvents ?? 5000,
        keepAudit: o.keepAudit ?? 10_000,
        intervalMs: o.brokerIntervalMs ?? 60_000,
      },
      signal,
    ),
  ];
  return loops;
}

/**
 * The agent's loops that start once the host is registered and its tasks recovered: statuses,
 * assignments, usage, certificate renewal, image GC, host history, logs, metrics, mesh, volume GC,
 * configs.
 */
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { HostHistoryRecorder } from '../telemetry/hosthistory/index.ts';
import type { MeshHost } from '../mesh/host/index.ts';
import type { HostConfigs } from '../configdist/host/index.ts';
import { runImageGc } from './image-gc.ts';
import type { LogShipper } from './log-shipper.ts';
import {
  DEFAULT_METRICS_INTERVAL_MS,
  runMetricsCollection,
  type MetricsCollectionOptions,
} from './metrics-collection.ts';
import type { StatusReporter } from './status-reporter.ts';
import type { TaskRunner } from './task-runner.ts';
import { runVolumeGc, type HostVolumes, type VolumeSupport } from './volumes.ts';

export function runHostLoops(
  o: {
    client: DabbaClient;
    runtime: Runtime;
    hostId: string;
    dataDir: string;
    statsIntervalMs?: number;
    images?: ImageStore;
    imageBudget?: { bytes: number; intervalMs?: number };
    metrics?: MetricsCollectionOptions;
    volumeGcMs?: number;
  },
  p: {
    runners: Map<string, TaskRunner>;
    reporter: StatusReporter;
    syncAssignments: () => Promise<void>;
    renewals: () => Promise<void>;
    history: HostHistoryRecorder | undefined;
    shipper: LogShipper;
    mesh: MeshHost | undefined;
    volumes: HostVolumes;
    volumeSupport: VolumeSupport;
    configs: HostConfigs;
    clock: Clock;
    logger: Logger;
  },
  signal: AbortSignal,
): Promise<unknown>[] {
  const { runners, reporter, syncAssignments, renewals, history, shipper, mesh } = p;
  const { volumes, volumeSupport, configs, clock, logger } = p;
  const loops: Promise<unknown>[] = [];
  loops.push(reporter.run(signal), syncAssignments(), stats(o, runners, signal), renewals());
  if (o.images && o.imageBudget) {
    const gc = {
      images: o.images,
      budgetBytes: o.imageBudget.bytes,
      inUse: () => [...runners.values()].flatMap((r) => (r.task.spec.image ? [r.task.spec.image] : [])),
      logger,
      ...(o.imageBudget.intervalMs === undefined ? {} : { intervalMs: o.imageBudget.intervalMs }),
    };
    loops.push(runImageGc(gc, signal));
  }
  if (history) loops.push(history.run(signal));
  loops.push(shipper.run(signal));
  loops.push(
    runMetricsCollection({
      options: o.metrics ?? { intervalMs: DEFAULT_METRICS_INTERVAL_MS },
      client: o.client,
      runtime: o.runtime,
      hostId: o.hostId,
      dataDir: o.dataDir,
      runners: () => runners.values(),
      ...(mesh ? { extraSamples: () => mesh.samples() } : {}),
      clock,
      logger,
      signal,
    }).catch((e: unknown) => logger.error({ err: messageOf(e) }, 'metrics collection stopped')),
  );
  if (mesh) loops.push(mesh.run(signal));
  logger.info(
    { volumes: volumeSupport.kind, quota: volumeSupport.quota },
    `volumes: ${volumeSupport.summary}`,
  );
  loops.push(
    runVolumeGc(
      {
        volumes,
        client: o.client,
        hostId: o.hostId,
        tasks: () => [...runners.values()].map((r) => r.task),
        logger,
        ...(o.volumeGcMs === undefined ? {} : { intervalMs: o.volumeGcMs }),
      },
      signal,
    ),
  );
  loops.push(configs.run(signal));
  return loops;
}

/** Refreshes every task's resource usage each interval (default 10 s). */
async function stats(
  o: { statsIntervalMs?: number },
  runners: Map<string, TaskRunner>,
  signal: AbortSignal,
): Promise<void> {
  const every = o.statsIntervalMs ?? 10_000;
  while (!signal.aborted) {
    await sleep(every, signal);
    for (const r of runners.values()) await r.refreshUsage();
  }
}

/**
 * The agent's part in telemetry (docs/telemetry.md): every interval the collector reads the host
 * and each running task (its cgroup usage, and its counters when it declares `task.metrics`) into
 * the spool under the data dir; the shipper sends the spool to the server, oldest first.
 */
import { join } from 'node:path';
import type { DabbaClient } from '../client/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { splitJobId } from '../model/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { Collector, Shipper, Spool, type Sample, type ScrapeTarget } from '../telemetry/agent/index.ts';
import { resolveProbePort } from './health/index.ts';
import type { TaskRunner } from './task-runner.ts';

export interface MetricsCollectionOptions {
  /** Collection interval (ms); 0 turns collection off. Default 10 s. */
  intervalMs: number;
  /** The spool's budget in bytes (default 64 MiB). */
  spoolBytes?: number;
}

export const DEFAULT_METRICS_INTERVAL_MS = 10_000;

/** The scrape targets of the tasks running now. */
export function scrapeTargets(runners: Iterable<TaskRunner>, runtime: Runtime): ScrapeTarget[] {
  const out: ScrapeTarget[] = [];
  for (const r of runners) {
    const h = r.handle;
    if (h === undefined) continue;
    const { namespace, name } = splitJobId(r.task.job);
    const target: ScrapeTarget = {
      task: r.task.id,
      job: name,
      namespace,
      version: r.task.version,
      usage: () => runtime.stats(r.task.id),
    };
    const m = r.task.spec.metrics;
    if (m !== undefined) {
      const port = resolveProbePort(m.port, {
        address: h.address,
        ports: h.ports,
        declared: r.task.spec.ports,
      });
      if (port.ok) {
        const host = h.address.includes(':') ? `[${h.address}]` : h.address;
        target.url = `http://${host}:${port.port}${m.path}`;
      }
    }
    out.push(target);
  }
  return out;
}

/** Starts collecting and shipping; the returned promise ends when `signal` aborts. */
export async function runMetricsCollection(o: {
  options: MetricsCollectionOptions;
  client: DabbaClient;
  runtime: Runtime;
  hostId: string;
  dataDir: string;
  runners: () => Iterable<TaskRunner>;
  /** Samples of the host's own read at each collection (the mesh proxy's stats), labelled `host`. */
  extraSamples?: () => Promise<Sample[]>;
  clock: Clock;
  logger: Logger;
  signal: AbortSignal;
}): Promise<void> {
  if (o.options.intervalMs <= 0) return;
  const logger = o.logger.child({ part: 'metrics' });
  const spool = await Spool.open({
    dir: join(o.dataDir, 'metrics-spool'),
    host: o.hostId,
    logger,
    clock: o.clock,
    ...(o.options.spoolBytes === undefined ? {} : { maxBytes: o.options.spoolBytes }),
  });
  const shipper = new Shipper({ spool, send: (b) => o.client.ingestMetrics(b), logger, signal: o.signal });
  const self = (): Sample[] => [
    { name: 'dabba_agent_shipped_batches_total', labels: {}, kind: 'counter', value: shipper.stats.shipped },
    { name: 'dabba_agent_ship_failures_total', labels: {}, kind: 'counter', value: shipper.stats.failures },
    {
      name: 'dabba_agent_rejected_batches_total',
      labels: {},
      kind: 'counter',
      value: shipper.stats.rejected,
    },
  ];
  const collector = new Collector({
    host: o.hostId,
    intervalMs: o.options.intervalMs,
    targets: () => scrapeTargets(o.runners(), o.runtime),
    spool,
    logger,
    clock: o.clock,
    selfSamples: self,
    ...(o.extraSamples === undefined ? {} : { extraSamples: o.extraSamples }),
  });
  logger.info(
    { intervalMs: o.options.intervalMs, spooled: spool.stats().batches, nextSeq: spool.nextSeq },
    'metrics collection started',
  );
  await Promise.all([collector.run(o.signal), shipper.run()]);
}

/**
 * The agent's collection loop: every interval, the host's figures (/proc), each running task's
 * cgroup usage (as the runtime reports it) and each task's own counters (scraped from its
 * `task.metrics` endpoint), labelled and written to the spool as one batch.
 *
 * Labels: every series has `host`; a task's also `job`, `namespace`, `task` and `version`. A label
 * of the same name served by the task is kept as `exported_NAME` (as Prometheus does).
 */
import type { Clock, Logger } from '../../lib/index.ts';
import { sleep } from '../../lib/index.ts';
import { messageOf } from '../../errors/index.ts';
import type { TaskUsage } from '../../model/index.ts';
import { DEFAULT_PARSE_LIMITS, type ParseLimits } from './exposition-parse.ts';
import { readHostStats } from './host-stats.ts';
import { scrape } from './scrape.ts';
import type { Spool } from './spool.ts';
import type { Sample, WireSeries } from './wire.ts';

export interface ScrapeTarget {
  task: string;
  /** The job's name (without its namespace). */
  job: string;
  namespace: string;
  version: number;
  /** The task's metrics URL, when it declares task.metrics and the port resolves. */
  url?: string;
  /** The task's resource usage (cgroup), when the runtime reports it. */
  usage?: () => Promise<TaskUsage | undefined>;
}

export interface CollectorOptions {
  host: string;
  intervalMs: number;
  targets: () => ScrapeTarget[];
  spool: Spool;
  logger: Logger;
  clock: Clock;
  /** Where /proc is (tests). */
  proc?: string;
  /** Per-scrape deadline (default: the smaller of 5 s and 80% of the interval). */
  scrapeTimeoutMs?: number;
  limits?: ParseLimits;
  /** Extra samples of the agent's own (e.g. the shipper's counts), read at each collection. */
  selfSamples?: () => Sample[];
  /** Samples read at each collection that take a while (the mesh proxy's stats); never throws. */
  extraSamples?: () => Promise<Sample[]>;
}

const RESERVED = new Set(['host', 'job', 'namespace', 'task', 'version']);

/** A task's sample with Dabba's labels added; clashing labels of the task's kept as exported_*. */
export function labelTaskSample(s: Sample, base: Record<string, string>): Sample {
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.labels)) labels[RESERVED.has(k) ? `exported_${k}` : k] = v;
  return { ...s, labels: { ...labels, ...base } };
}

/**
 * Samples read at `t` as wire series; a repeated name+labels keeps its first value, and values
 * that are not finite (NaN, +Inf, which JSON cannot carry) are left out.
 */
export function toWire(samples: Sample[], t: number): WireSeries[] {
  const seen = new Set<string>();
  const out: WireSeries[] = [];
  for (const s of samples) {
    if (!Number.isFinite(s.value)) continue;
    const key = `${s.name}\u0000${Object.keys(s.labels)
      .sort()
      .map((k) => `${k}=${s.labels[k] ?? ''}`)
      .join('\u0000')}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ name: s.name, labels: s.labels, kind: s.kind, samples: [[t, s.value]] });
  }
  return out;
}

export class Collector {
  readonly #o: CollectorOptions;
  /** Per task: scrape failures, invalid lines and samples dropped by the limits, since start. */
  readonly #scrapeCounts = new Map<string, { failures: number; invalid: number; dropped: number }>();
  collections = 0;

  constructor(o: CollectorOptions) {
    this.#o = o;
  }

  /** Collects once and spools the batch; returns its seq (undefined when it could not be written). */
  async collectOnce(signal?: AbortSignal): Promise<number | undefined> {
    const o = this.#o;
    const t = o.clock.now();
    const hostLabels = { host: o.host };
    const samples: Sample[] = (await readHostStats(o.proc)).map((s) => ({
      ...s,
      labels: { ...s.labels, ...hostLabels },
    }));
    const targets = o.targets();
    const timeoutMs = o.scrapeTimeoutMs ?? Math.max(200, Math.min(5000, Math.floor(o.intervalMs * 0.8)));
    const perTask = await Promise.all(targets.map((target) => this.#task(target, timeoutMs, signal)));
    for (const s of perTask) samples.push(...s);
    for (const s of (await o.extraSamples?.().catch(() => [])) ?? [])
      samples.push({ ...s, labels: { ...s.labels, ...hostLabels } });
    const sp = o.spool.stats();
    const self: Sample[] = [
      { name: 'dabba_agent_spool_batches', labels: {}, kind: 'gauge', value: sp.batches },
      { name: 'dabba_agent_spool_bytes', labels: {}, kind: 'gauge', value: sp.bytes },
      { name: 'dabba_agent_spool_dropped_batches_total', labels: {}, kind: 'counter', value: sp.dropped },
      {
        name: 'dabba_agent_spool_dropped_samples_total',
        labels: {},
        kind: 'counter',
        value: sp.droppedSamples,
      },
      {
        name: 'dabba_agent_spool_write_failures_total',
        labels: {},
        kind: 'counter',
        value: sp.writeFailures,
      },
      { name: 'dabba_agent_scrape_targets', labels: {}, kind: 'gauge', value: targets.length },
      ...(o.selfSamples?.() ?? []),
    ];
    for (const s of self) samples.push({ ...s, labels: { ...s.labels, ...hostLabels } });
    this.collections++;
    return o.spool.append(toWire(samples, t));
  }

  async #task(target: ScrapeTarget, timeoutMs: number, signal?: AbortSignal): Promise<Sample[]> {
    const base = {
      host: this.#o.host,
      job: target.job,
      namespace: target.namespace,
      task: target.task,
      version: String(target.version),
    };
    const out: Sample[] = [];
    const usage = await target.usage?.().catch(() => undefined);
    if (usage) {
      out.push(
        { name: 'task_cpu_seconds_total', labels: base, kind: 'counter', value: usage.cpuSeconds },
        { name: 'task_memory_bytes', labels: base, kind: 'gauge', value: usage.memoryBytes },
        { name: 'task_pids', labels: base, kind: 'gauge', value: usage.pids },
      );
    }
    if (target.url === undefined) return out;
    const counts = this.#scrapeCounts.get(target.task) ?? { failures: 0, invalid: 0, dropped: 0 };
    this.#scrapeCounts.set(target.task, counts);
    const started = performance.now();
    const r = await scrape(target.url, {
      timeoutMs,
      limits: this.#o.limits ?? DEFAULT_PARSE_LIMITS,
      ...(signal ? { signal } : {}),
    });
    const seconds = (performance.now() - started) / 1000;
    if (r.ok) {
      counts.invalid += r.invalid;
      counts.dropped += r.dropped;
      for (const s of r.samples) out.push(labelTaskSample(s, base));
    } else {
      counts.failures++;
      if (counts.failures === 1 || counts.failures % 30 === 0) {
        this.#o.logger.warn(
          { task: target.task, url: target.url, err: r.error, failures: counts.failures },
          'metrics scrape failed',
        );
      }
    }
    out.push(
      { name: 'dabba_scrape_up', labels: base, kind: 'gauge', value: r.ok ? 1 : 0 },
      { name: 'dabba_scrape_duration_seconds', labels: base, kind: 'gauge', value: seconds },
      { name: 'dabba_scrape_samples', labels: base, kind: 'gauge', value: r.ok ? r.samples.length : 0 },
      { name: 'dabba_scrape_failures_total', labels: base, kind: 'counter', value: counts.failures },
      { name: 'dabba_scrape_invalid_lines_total', labels: base, kind: 'counter', value: counts.invalid },
      { name: 'dabba_scrape_dropped_samples_total', labels: base, kind: 'counter', value: counts.dropped },
    );
    return out;
  }

  /** Collects every interval until `signal` aborts; a failed collection is logged, never thrown. */
  async run(signal: AbortSignal): Promise<void> {
    const o = this.#o;
    let next = o.clock.now();
    while (!signal.aborted) {
      try {
        await this.collectOnce(signal);
      } catch (e) {
        o.logger.error({ err: messageOf(e) }, 'metrics collection failed');
      }
      // Keep to the interval's grid; after a stall, skip missed ticks rather than bunch them.
      next += o.intervalMs;
      const now = o.clock.now();
      if (next < now) next = now + o.intervalMs;
      await sleep(next - now, signal);
    }
  }
}

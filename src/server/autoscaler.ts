/**
 * Scaling by a counter (`scaling.metric`, docs/elastic.md): for each active service with a metric,
 * on the replica owning its shard, every quarter of its window (1 s to 15 s) the job's total of the
 * series is read from the time-series store (all replicas' shares) and `decideScale` (scheduler,
 * pure) gives the replicas. The scheduler loop asks `replicasFor` when it decides the job, as it reads
 * a schedule: a change is no new job version, and goes out under the job's update budget and
 * TaskControl controller. A change is said once, as an event `job.scaled` with the reason.
 *
 * Before its first decision on a replica (a new job, or a shard just taken over), a job keeps the
 * number of tasks it runs (within the bounds): a failover does not bounce it back to `replicas`.
 */
import { messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import { namespaceOfJobId, type JobRecord, type MetricScalingSpec } from '../model/index.ts';
import { decideScale, type Recommendation } from '../scheduler/index.ts';
import type { Query, ResultSeries } from '../telemetry/tsdb/index.ts';
import type { EventLog } from './state/events.ts';

/** Reads a query's result across the replicas (the metrics route's fan-out). */
export type MetricsReader = (q: Query, signal: AbortSignal) => Promise<ResultSeries[]>;

export interface AutoscalerOptions {
  /** The jobs as the scheduler's cache has them. */
  jobs: () => Iterable<JobRecord>;
  /** How many tasks of a job are meant to run now (not being stopped). */
  runningTasks: (job: string) => number;
  /** Whether this replica decides the job now (owns its shard). */
  owns: (job: string) => boolean;
  read: MetricsReader;
  /** The job's replicas changed: decide it again. */
  changed: (job: string) => void;
  events: EventLog;
  clock: Clock;
  logger: Logger;
}

interface JobState {
  replicas: number;
  history: Recommendation[];
  nextAt: number;
  /** The metric spec the history was made under (a new spec starts afresh). */
  spec: string;
}

const TICK_MS = 1000;
const MAX_EVERY_MS = 15_000;

/** How often a job is looked at: a quarter of its window, 1 s to 15 s. */
export function evaluationEvery(m: MetricScalingSpec): number {
  return Math.min(MAX_EVERY_MS, Math.max(TICK_MS, Math.floor(m.windowMs / 4)));
}

/** The job's labels and the metric's own matchers. */
function metricQuery(job: JobRecord, m: MetricScalingSpec, now: number): Query {
  const step = Math.max(1000, Math.floor(m.windowMs / 20));
  const end = Math.floor(now / step) * step + step;
  return {
    name: m.name,
    matchers: [
      { label: 'job', op: '=', value: job.spec.name },
      { label: 'namespace', op: '=', value: namespaceOfJobId(job.name) },
      ...Object.entries(m.where).map(([label, value]) => ({ label, op: '=' as const, value })),
    ],
    start: end - Math.ceil(m.windowMs / step) * step,
    end,
    step,
    ...(m.rate ? { rate: true } : { over: 'avg' as const }),
    agg: 'sum',
  };
}

/**
 * The job's total over the window: for a rate, the increase the points hold divided by the time
 * they span (the newest points may not have been collected yet: they do not count as zero); for a
 * gauge, the sum over tasks at the newest step with points. Undefined without any point.
 */
export function totalOf(series: ResultSeries[], q: Query, rate: boolean): number | undefined {
  const points = series.flatMap((s) => s.points);
  if (points.length === 0) return undefined;
  const first = Math.min(...points.map(([t]) => t));
  const last = Math.max(...points.map(([t]) => t));
  if (!rate) return points.filter(([t]) => t === last).reduce((n, [, v]) => n + v, 0);
  const increase = points.reduce((n, [, v]) => n + v * (q.step / 1000), 0);
  return increase / ((last + q.step - first) / 1000);
}

export class Autoscaler {
  readonly #o: AutoscalerOptions;
  readonly #jobs = new Map<string, JobState>();

  constructor(o: AutoscalerOptions) {
    this.#o = o;
  }

  /** The replicas a metric-scaled job runs now; undefined for other jobs. */
  replicasFor(job: JobRecord): number | undefined {
    const s = job.spec.scaling;
    if (s?.metric === undefined || job.spec.batch !== undefined) return undefined;
    const clamp = (n: number): number => Math.min(s.maxReplicas, Math.max(s.minReplicas, n));
    const known = this.#jobs.get(job.name);
    if (known !== undefined && known.spec === JSON.stringify(s)) return clamp(known.replicas);
    const running = this.#o.runningTasks(job.name);
    return clamp(running > 0 ? running : job.spec.replicas);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.tick(signal).catch((e: unknown) =>
        this.#o.logger.warn({ err: messageOf(e) }, 'autoscaler pass failed'),
      );
      await sleep(TICK_MS, signal);
    }
  }

  /** One pass: every job due is looked at (exported for tests). */
  async tick(signal: AbortSignal): Promise<void> {
    const now = this.#o.clock.now();
    const seen = new Set<string>();
    for (const job of this.#o.jobs()) {
      const m = job.spec.scaling?.metric;
      if (m === undefined || job.status !== 'active' || job.spec.batch !== undefined) continue;
      if (!this.#o.owns(job.name)) continue;
      seen.add(job.name);
      const state = this.#jobs.get(job.name);
      if (state !== undefined && state.nextAt > now && state.spec === JSON.stringify(job.spec.scaling))
        continue;
      await this.#evaluate(job, m, now, signal);
    }
    for (const name of this.#jobs.keys()) if (!seen.has(name)) this.#jobs.delete(name);
  }

  async #evaluate(job: JobRecord, m: MetricScalingSpec, now: number, signal: AbortSignal): Promise<void> {
    const scaling = job.spec.scaling;
    if (scaling === undefined) return;
    const spec = JSON.stringify(scaling);
    const before = this.#jobs.get(job.name);
    const fresh = before === undefined || before.spec !== spec;
    const current = this.replicasFor(job) ?? job.spec.replicas;
    const q = metricQuery(job, m, now);
    let total: number | undefined;
    try {
      total = totalOf(await this.#o.read(q, signal), q, m.rate);
    } catch (e) {
      this.#o.logger.warn({ job: job.name, err: messageOf(e) }, 'autoscaler could not read the metric');
      total = undefined;
    }
    const d = decideScale({
      spec: m,
      minReplicas: scaling.minReplicas,
      maxReplicas: scaling.maxReplicas,
      current,
      total,
      history: fresh ? [] : before.history,
      now,
    });
    this.#jobs.set(job.name, {
      replicas: d.replicas,
      history: d.history,
      nextAt: now + evaluationEvery(m),
      spec,
    });
    if (d.replicas === current) return;
    this.#o.logger.info({ job: job.name, from: current, to: d.replicas, reason: d.reason }, 'job scaled');
    this.#o.changed(job.name);
    await this.#o.events
      .append([
        {
          kind: 'job.scaled',
          job: job.name,
          message: `scaled from ${current} to ${d.replicas} replicas: ${d.reason}`,
        },
      ])
      .catch((e: unknown) => this.#o.logger.debug({ err: messageOf(e) }, 'job.scaled event not written'));
  }
}

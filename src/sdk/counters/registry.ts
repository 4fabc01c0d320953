/**
 * A registry of counters, gauges and histograms, FB303 style: a service bumps named numbers as it
 * works, and a collector reads them all at once (`getCounters()`, or the text formats in
 * exposition.ts). In-process only; no dependencies beyond Node.
 */
import { checkLabels, checkMetricName, labelText, type Labels } from './names.ts';

export type MetricKind = 'counter' | 'gauge' | 'histogram';

/** Prometheus's default buckets (seconds), for timers. */
export const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface ScalarSeries {
  labels: Labels;
  value: number;
}

export interface HistogramSeries {
  labels: Labels;
  /** Per-bucket (not cumulative) counts, one per upper bound, plus one for +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

export interface Family {
  /** Family name: for a counter without its `_total` suffix. */
  name: string;
  kind: MetricKind;
  help: string;
  /** Histogram upper bounds, ascending, without +Inf. */
  buckets: readonly number[];
  series: Map<string, ScalarSeries | HistogramSeries>;
}

/** Most series a registry keeps (a label with unbounded values is a bug; this caps its cost). */
export const MAX_SERIES = 10_000;

export class CounterRegistry {
  readonly #families = new Map<string, Family>();
  #seriesCount = 0;

  /** Adds `by` (default 1, must be >= 0) to a counter. `name` may end in `_total` or not. */
  incrementCounter(name: string, by = 1, labels: Labels = {}): number {
    if (!Number.isFinite(by) || by < 0)
      throw new RangeError(`counter ${name}: increment must be >= 0, got ${by}`);
    const s = this.#scalar(counterFamily(name), 'counter', labels);
    s.value += by;
    return s.value;
  }

  /** Sets a counter outright (for counts kept elsewhere, e.g. read from a library). */
  setCounter(name: string, value: number, labels: Labels = {}): void {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`counter ${name}: value must be >= 0`);
    this.#scalar(counterFamily(name), 'counter', labels).value = value;
  }

  setGauge(name: string, value: number, labels: Labels = {}): void {
    this.#scalar(name, 'gauge', labels).value = value;
  }

  incrementGauge(name: string, by = 1, labels: Labels = {}): number {
    const s = this.#scalar(name, 'gauge', labels);
    s.value += by;
    return s.value;
  }

  /**
   * Declares a histogram's buckets (ascending upper bounds) and help. Optional: a histogram first
   * observed without it gets DEFAULT_BUCKETS.
   */
  defineHistogram(name: string, buckets: readonly number[] = DEFAULT_BUCKETS, help = ''): void {
    const sorted = [...buckets].filter((b) => b !== Infinity);
    for (let i = 0; i < sorted.length; i++) {
      const b = sorted[i] ?? NaN;
      if (!Number.isFinite(b) || (i > 0 && b <= (sorted[i - 1] ?? -Infinity))) {
        throw new RangeError(`histogram ${name}: buckets must be finite and strictly ascending`);
      }
    }
    const f = this.#family(name, 'histogram', sorted);
    if (help) f.help = help;
  }

  /** Records one observation into a histogram. */
  observe(name: string, value: number, labels: Labels = {}): void {
    if (Number.isNaN(value)) return;
    const f = this.#family(name, 'histogram', DEFAULT_BUCKETS);
    const key = labelText(labels);
    let s = f.series.get(key) as HistogramSeries | undefined;
    if (s === undefined) {
      checkLabels(labels, ['le']);
      this.#room(name);
      s = {
        labels: { ...labels },
        counts: new Array<number>(f.buckets.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      f.series.set(key, s);
    }
    let i = f.buckets.findIndex((b) => value <= b);
    if (i < 0) i = f.buckets.length;
    s.counts[i] = (s.counts[i] ?? 0) + 1;
    s.sum += value;
    s.count += 1;
  }

  /** Starts a timer; calling the result observes the elapsed seconds into histogram `name`. */
  startTimer(name: string, labels: Labels = {}): () => number {
    const t0 = process.hrtime.bigint();
    return () => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.observe(name, seconds, labels);
      return seconds;
    };
  }

  /** Runs `fn` and records how long it took (also when it throws). */
  async time<T>(name: string, fn: () => Promise<T> | T, labels: Labels = {}): Promise<T> {
    const stop = this.startTimer(name, labels);
    try {
      return await fn();
    } finally {
      stop();
    }
  }

  /** Sets the HELP text of a family (created with `kind` if it does not exist yet). */
  describe(name: string, kind: MetricKind, help: string): void {
    this.#family(kind === 'counter' ? counterFamily(name) : name, kind, DEFAULT_BUCKETS).help = help;
  }

  /**
   * FB303's getCounters: every sample as a flat map, key = sample name plus its labels
   * (`hello_requests_total`, `http_requests_total{code="200"}`, `latency_seconds_count`,
   * `latency_seconds_bucket{le="0.1"}` cumulative), value = number.
   */
  getCounters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const f of this.#families.values()) {
      for (const s of f.series.values()) {
        for (const [name, labels, value] of samplesOf(f, s)) out[name + labelText(labels)] = value;
      }
    }
    return out;
  }

  /** Families in registration order (for the text formats). */
  families(): IterableIterator<Family> {
    return this.#families.values();
  }

  /** Forgets everything (tests). */
  reset(): void {
    this.#families.clear();
    this.#seriesCount = 0;
  }

  #family(name: string, kind: MetricKind, buckets: readonly number[]): Family {
    let f = this.#families.get(name);
    if (f === undefined) {
      checkMetricName(name);
      f = { name, kind, help: '', buckets, series: new Map() };
      this.#families.set(name, f);
    } else if (f.kind !== kind) {
      throw new TypeError(`metric ${name} is a ${f.kind}, not a ${kind}`);
    }
    return f;
  }

  #scalar(name: string, kind: 'counter' | 'gauge', labels: Labels): ScalarSeries {
    const f = this.#family(name, kind, []);
    const key = labelText(labels);
    let s = f.series.get(key) as ScalarSeries | undefined;
    if (s === undefined) {
      checkLabels(labels);
      this.#room(name);
      s = { labels: { ...labels }, value: 0 };
      f.series.set(key, s);
    }
    return s;
  }

  #room(name: string): void {
    if (this.#seriesCount >= MAX_SERIES) {
      throw new RangeError(`metric ${name}: more than ${MAX_SERIES} series in this registry`);
    }
    this.#seriesCount++;
  }
}

/** A counter's family name: `x_total` and `x` both name family `x` (sample `x_total`). */
export function counterFamily(name: string): string {
  return name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
}

/** The samples of one series: [sample name, labels, value], histograms expanded and cumulative. */
export function samplesOf(f: Family, s: ScalarSeries | HistogramSeries): [string, Labels, number][] {
  if ('value' in s) return [[f.kind === 'counter' ? `${f.name}_total` : f.name, s.labels, s.value]];
  const out: [string, Labels, number][] = [];
  let acc = 0;
  f.buckets.forEach((b, i) => {
    acc += s.counts[i] ?? 0;
    out.push([`${f.name}_bucket`, { ...s.labels, le: leText(b) }, acc]);
  });
  out.push([`${f.name}_bucket`, { ...s.labels, le: '+Inf' }, s.count]);
  out.push([`${f.name}_count`, s.labels, s.count]);
  out.push([`${f.name}_sum`, s.labels, s.sum]);
  return out;
}

/** A bucket bound as OpenMetrics writes it (canonical float: `1.0`, `0.25`, `+Inf`). */
export function leText(b: number): string {
  if (b === Infinity) return '+Inf';
  return Number.isInteger(b) ? b.toFixed(1) : String(b);
}

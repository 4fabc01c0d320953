/**
 * A small metrics registry for the control plane's own counters, exposed in the Prometheus text
 * format (0.0.4) or OpenMetrics 1.0 (`GET /metrics`, by the request's Accept header). Built for a
 * cheap hot path: a labelled child is found with one Map lookup on its joined label values and
 * updated in place; the text is built only when scraped.
 */

type LabelValues = readonly string[];

/** Default latency buckets (seconds): 0.5 ms to 10 s. */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
] as const;

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  /** Sample lines (without the trailing newline). */
  lines(): string[];
}

function escapeValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function labelText(names: readonly string[], values: LabelValues, extra?: string): string {
  const parts = names.map((n, i) => `${n}="${escapeValue(values[i] ?? '')}"`);
  if (extra !== undefined) parts.push(extra);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** A number as the exposition formats write it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

export class Counter implements Family {
  readonly type = 'counter';
  readonly #children = new Map<string, { values: LabelValues; n: number }>();
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  constructor(name: string, help: string, labelNames: readonly string[] = []) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
  }

  inc(values: LabelValues = [], by = 1): void {
    const key = values.join('\u0000');
    const c = this.#children.get(key);
    if (c === undefined) this.#children.set(key, { values: [...values], n: by });
    else c.n += by;
  }

  /** Samples are `NAME_total` in both formats (the family is NAME in OpenMetrics). */
  lines(): string[] {
    const name = `${this.name}_total`;
    return [...this.#children.values()].map(
      (c) => `${name}${labelText(this.labelNames, c.values)} ${formatValue(c.n)}`,
    );
  }
}

interface HistogramChild {
  values: LabelValues;
  counts: Float64Array;
  sum: number;
  count: number;
}

export class Histogram implements Family {
  readonly type = 'histogram';
  readonly #children = new Map<string, HistogramChild>();
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly buckets: readonly number[];
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.buckets = buckets;
  }

  observe(values: LabelValues, v: number): void {
    const key = values.join('\u0000');
    let c = this.#children.get(key);
    if (c === undefined) {
      c = { values: [...values], counts: new Float64Array(this.buckets.length), sum: 0, count: 0 };
      this.#children.set(key, c);
    }
    const b = this.buckets;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    if (i < b.length) c.counts[i]!++;
    c.sum += v;
    c.count++;
  }

  lines(): string[] {
    const out: string[] = [];
    for (const c of this.#children.values()) {
      let cum = 0;
      this.buckets.forEach((le, i) => {
        cum += c.counts[i]!;
        out.push(`${this.name}_bucket${labelText(this.labelNames, c.values, `le="${le}"`)} ${cum}`);
      });
      out.push(`${this.name}_bucket${labelText(this.labelNames, c.values, 'le="+Inf"')} ${c.count}`);
      out.push(`${this.name}_sum${labelText(this.labelNames, c.values)} ${formatValue(c.sum)}`);
      out.push(`${this.name}_count${labelText(this.labelNames, c.values)} ${c.count}`);
    }
    return out;
  }
}

/** A gauge read when scraped. */
export class Gauge implements Family {
  readonly type = 'gauge';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  readonly read: () => readonly (readonly [LabelValues, number])[];
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => readonly (readonly [LabelValues, number])[],
  ) {
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.read = read;
  }

  lines(): string[] {
    return this.read().map(
      ([values, v]) => `${this.name}${labelText(this.labelNames, values)} ${formatValue(v)}`,
    );
  }
}

interface RouteStats {
  route: string;
  counts: Float64Array;
  sum: number;
  count: number;
  codes: Map<number, number>;
}

/**
 * Requests by route: a counter by (route, code) and a latency histogram by route, updated with one
 * Map lookup on the route (no label strings joined per request). Registered as two families.
 */
export class RequestStats {
  readonly #routes = new Map<string, RouteStats>();
  readonly buckets: readonly number[];
  readonly counter: Family;
  readonly histogram: Family;

  constructor(
    counterName: string,
    counterHelp: string,
    histogramName: string,
    histogramHelp: string,
    buckets: readonly number[] = LATENCY_BUCKETS,
  ) {
    this.buckets = buckets;
    this.counter = {
      name: counterName,
      help: counterHelp,
      type: 'counter',
      lines: () => this.#counterLines(counterName),
    };
    this.histogram = {
      name: histogramName,
      help: histogramHelp,
      type: 'histogram',
      lines: () => this.#histogramLines(histogramName),
    };
  }

  observe(route: string, code: number, seconds: number): void {
    let r = this.#routes.get(route);
    if (r === undefined) {
      r = { route, counts: new Float64Array(this.buckets.length), sum: 0, count: 0, codes: new Map() };
      this.#routes.set(route, r);
    }
    const b = this.buckets;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    if (i < b.length) r.counts[i]!++;
    r.sum += seconds;
    r.count++;
    r.codes.set(code, (r.codes.get(code) ?? 0) + 1);
  }

  #counterLines(name: string): string[] {
    const out: string[] = [];
    for (const r of this.#routes.values())
      for (const [code, n] of r.codes)
        out.push(`${name}_total${labelText(['route', 'code'], [r.route, String(code)])} ${n}`);
    return out;
  }

  #histogramLines(name: string): string[] {
    const out: string[] = [];
    for (const r of this.#routes.values()) {
      let cum = 0;
      const route = `route="${escapeValue(r.route)}"`;
      this.buckets.forEach((le, i) => {
        cum += r.counts[i]!;
        out.push(`${name}_bucket{${route},le="${le}"} ${cum}`);
      });
      out.push(`${name}_bucket{${route},le="+Inf"} ${r.count}`);
      out.push(`${name}_sum{${route}} ${formatValue(r.sum)}`);
      out.push(`${name}_count{${route}} ${r.count}`);
    }
    return out;
  }
}

export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
export const OPENMETRICS_TEXT = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

export class Registry {
  readonly #families: Family[] = [];

  counter(name: string, help: string, labelNames: readonly string[] = []): Counter {
    return this.#add(new Counter(name, help, labelNames));
  }
  histogram(
    name: string,
    help: string,
    labelNames: readonly string[] = [],
    buckets?: readonly number[],
  ): Histogram {
    return this.#add(new Histogram(name, help, labelNames, buckets));
  }
  gauge(
    name: string,
    help: string,
    labelNames: readonly string[],
    read: () => readonly (readonly [LabelValues, number])[],
  ): Gauge {
    return this.#add(new Gauge(name, help, labelNames, read));
  }

  requests(
    counterName: string,
    counterHelp: string,
    histogramName: string,
    histogramHelp: string,
  ): RequestStats {
    const r = new RequestStats(counterName, counterHelp, histogramName, histogramHelp);
    this.#add(r.counter);
    this.#add(r.histogram);
    return r;
  }

  /** The exposition text; `openMetrics` for OpenMetrics 1.0 (counters' samples end in `_total`, `# EOF`). */
  expose(openMetrics: boolean): string {
    const out: string[] = [];
    for (const f of this.#families) {
      // Prometheus text names a counter's family with its sample name; OpenMetrics without `_total`.
      const family = f.type === 'counter' && !openMetrics ? `${f.name}_total` : f.name;
      out.push(`# HELP ${family} ${f.help}`, `# TYPE ${family} ${f.type}`, ...f.lines());
    }
    if (openMetrics) out.push('# EOF');
    return out.join('\n') + '\n';
  }

  #add<F extends Family>(f: F): F {
    this.#families.push(f);
    return f;
  }
}

/** Whether a scrape asked for OpenMetrics (Prometheus asks for it first in its Accept header). */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept?.includes('application/openmetrics-text') ?? false;
}

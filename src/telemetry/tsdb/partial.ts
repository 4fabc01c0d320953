/**
 * Partial query results, for a query answered by several stores (server replicas that each hold
 * part of the points). A store gives, per selected series, its per-step accumulators (min, max, sum,
 * count of the steps it has data in) and, for a rate, the first and last point it saw; the asking
 * replica merges them and aggregates as one store would.
 *
 * Merging is exact when the stores hold disjoint points of a series (what failover produces: an
 * agent ships each batch to one replica): minima of minima, maxima of maxima, sums of sums and of
 * counts. A rate is stitched across stores: the increase between one store's last point and the
 * next store's first point is added to the step the later point falls in, as one store would count
 * it. A batch stored twice (its answer lost in a failover) counts twice in sums and counts.
 */
import { DabbaError } from '../../errors/index.ts';
import { seriesKey } from './labels.ts';
import { StepAccumulator, type Query } from './query.ts';
import type { SeriesInfo } from './series-index.ts';

/**
 * One series' share of a store: sparse steps `[i, min, max, sum, count]` (JSON has no infinities: a
 * min or max that is not finite, as a rate's are, travels as null), and a rate's edges.
 */
export interface PartialSeries {
  name: string;
  labels: Record<string, string>;
  steps: [number, number | null, number | null, number, number][];
  /** With rate: [firstT, firstV, lastT, lastV] of the points the store saw. */
  edges?: [number, number, number, number];
}

export interface PartialResult {
  first: number;
  step: number;
  n: number;
  rate: boolean;
  series: PartialSeries[];
}

/** A store's share, from its accumulators (Infinity-free: empty steps are left out). */
export function toPartial(
  q: Query,
  selected: readonly { info: SeriesInfo; acc: StepAccumulator }[],
): PartialResult {
  const probe = new StepAccumulator(q.start, q.end, q.step, q.rate === true);
  const series = selected.map(({ info, acc }): PartialSeries => {
    const steps: PartialSeries['steps'] = [];
    for (let i = 0; i < acc.n; i++) {
      const c = acc.count[i]!;
      if (c > 0) steps.push([i, finite(acc.min[i]!), finite(acc.max[i]!), acc.sum[i]!, c]);
    }
    const p: PartialSeries = { name: info.name, labels: { ...info.labels }, steps };
    if (acc.rate && acc.firstT === acc.firstT) p.edges = [acc.firstT, acc.firstV, acc.lastT, acc.lastV];
    return p;
  });
  return { first: probe.first, step: probe.step, n: probe.n, rate: q.rate === true, series };
}

const finite = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** Checks that a peer's answer has the shape and the step grid of `q` (a peer is not trusted blindly). */
export function checkPartial(q: Query, p: unknown, from: string): PartialResult {
  const probe = new StepAccumulator(q.start, q.end, q.step, q.rate === true);
  const bad = (what: string): never => {
    throw new DabbaError('DABBA_E_UNAVAILABLE', `the partial result from ${from} is not usable: ${what}`);
  };
  if (typeof p !== 'object' || p === null) return bad('not an object');
  const r = p as Partial<PartialResult>;
  if (r.first !== probe.first || r.step !== probe.step || r.n !== probe.n || r.rate !== (q.rate === true)) {
    bad('its steps differ from the query (another version of the server?)');
  }
  if (!Array.isArray(r.series)) return bad('no series list');
  for (const s of r.series as unknown[]) {
    const x = s as Partial<PartialSeries>;
    if (typeof x.name !== 'string' || typeof x.labels !== 'object' || !Array.isArray(x.steps)) {
      bad('a series without name, labels or steps');
    }
    for (const st of x.steps as unknown[]) {
      const ok = (v: unknown, k: number): boolean =>
        typeof v === 'number' || (v === null && (k === 1 || k === 2));
      if (!Array.isArray(st) || st.length !== 5 || !st.every(ok)) {
        bad('a step that is not [i, min, max, sum, count]');
      }
      const i = (st as number[])[0]!;
      if (!Number.isInteger(i) || i < 0 || i >= probe.n) bad(`a step index out of range (${String(i)})`);
    }
  }
  return r as PartialResult;
}

/** Merges stores' shares into one accumulator per series, ready for `assemble`. */
export function mergePartials(
  q: Query,
  parts: readonly PartialResult[],
): { info: Pick<SeriesInfo, 'name' | 'labels'>; acc: StepAccumulator }[] {
  const bySeries = new Map<string, PartialSeries[]>();
  for (const part of parts) {
    for (const s of part.series) {
      const key = seriesKey(s.name, s.labels);
      const list = bySeries.get(key);
      if (list === undefined) bySeries.set(key, [s]);
      else list.push(s);
    }
  }
  const out: { info: Pick<SeriesInfo, 'name' | 'labels'>; acc: StepAccumulator }[] = [];
  for (const shares of bySeries.values()) {
    const acc = new StepAccumulator(q.start, q.end, q.step, q.rate === true);
    for (const s of shares) {
      for (const [i, min, max, sum, count] of s.steps) {
        if (min !== null && min < acc.min[i]!) acc.min[i] = min;
        if (max !== null && max > acc.max[i]!) acc.max[i] = max;
        acc.sum[i] = acc.sum[i]! + sum;
        acc.count[i] = acc.count[i]! + count;
      }
    }
    if (acc.rate) stitch(acc, shares);
    const head = shares[0]!;
    out.push({ info: { name: head.name, labels: head.labels }, acc });
  }
  return out;
}

/** Adds the increase between consecutive stores' shares of a counter (disjoint in time only). */
function stitch(acc: StepAccumulator, shares: readonly PartialSeries[]): void {
  const edges = shares
    .map((s) => s.edges)
    .filter((e): e is [number, number, number, number] => e !== undefined)
    .sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < edges.length; k++) {
    const prev = edges[k - 1]!;
    const cur = edges[k]!;
    if (cur[0] <= prev[2]) continue; // overlapping shares: nothing sure to add
    const i = Math.floor((cur[0] - acc.first) / acc.step);
    if (i < 0 || i >= acc.n) continue;
    acc.sum[i] = acc.sum[i]! + (cur[1] >= prev[3] ? cur[1] - prev[3] : cur[1]);
    acc.count[i] = acc.count[i]! + 1;
  }
}

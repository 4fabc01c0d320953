/**
 * Queries: select series by name and label matchers, reduce each series to one value per step
 * over [start, end), optionally as a reset-aware rate, then aggregate across series, grouped by
 * labels. Step buckets are [t, t + step) with t = the first multiple of `step` at or after `start`
 * (steps are aligned to the epoch, so roll-up buckets nest in them when step is a multiple of the
 * roll-up resolution; a roll-up bucket counts in the step its start falls in).
 *
 * Within a step, a series' value is `over` of its points: avg (sum / count, also across roll-up
 * buckets: never an average of averages), min, max, sum or count. With `rate`, it is the series'
 * increase in the step per second: consecutive points add cur - prev, or cur after a counter reset
 * (cur < prev); over roll-ups the increase between buckets is taken on each bucket's max (exact
 * unless a reset falls inside a bucket). The first point of the range has no predecessor, so the
 * increase up to it is not counted.
 */
import { ValidationError } from '../../errors/index.ts';
import type { SeriesInfo } from './series-index.ts';
import { StepAccumulator, type Over } from './step-accumulator.ts';

export { StepAccumulator, type Over };

export type MatchOp = '=' | '!=' | '=~' | '!~';
export interface Matcher {
  label: string;
  op: MatchOp;
  value: string;
}
export type Aggregation = 'sum' | 'avg' | 'min' | 'max' | 'count' | 'percentile';

export interface Query {
  name: string;
  matchers?: readonly Matcher[];
  /** ms since the epoch, inclusive. */
  start: number;
  /** ms since the epoch, exclusive. */
  end: number;
  /** ms. */
  step: number;
  rate?: boolean;
  /** Within-step reduction of each series (default avg; ignored with rate). */
  over?: Over;
  /** Across-series aggregation; without it every selected series is returned. */
  agg?: Aggregation;
  /** For agg 'percentile': 0..100. */
  percentile?: number;
  /** Labels to group the aggregation by (default: one group). */
  by?: readonly string[];
}

export interface ResultSeries {
  labels: Record<string, string>;
  /** [t, v] at step alignment; steps with no data are left out. */
  points: [number, number][];
}

/** Most steps one query may ask for. */
export const MAX_STEPS = 11_000;

/** Checks a query and compiles its matchers; throws ValidationError with what to fix. */
export function compileMatchers(q: Query): (s: SeriesInfo) => boolean {
  const bad = (path: string, message: string, found: unknown): never => {
    throw new ValidationError(`metrics query: ${message}`, [{ path, message, found: String(found) }]);
  };
  if (!Number.isFinite(q.start) || !Number.isFinite(q.end) || q.end <= q.start) {
    bad('start', 'start and end must be times with start before end', `${q.start}..${q.end}`);
  }
  if (!Number.isInteger(q.step) || q.step <= 0)
    bad('step', 'step must be a positive whole number of ms', q.step);
  if (Math.ceil((q.end - q.start) / q.step) > MAX_STEPS) {
    bad('step', `at most ${MAX_STEPS} steps per query: widen the step or shorten the range`, q.step);
  }
  if (q.agg === 'percentile' && !(q.percentile !== undefined && q.percentile >= 0 && q.percentile <= 100)) {
    bad('percentile', 'percentile must be between 0 and 100', q.percentile);
  }
  const tests = (q.matchers ?? []).map((m, i) => {
    if (m.op === '=' || m.op === '!=') {
      const want = m.op === '=';
      return (s: SeriesInfo): boolean => ((s.labels[m.label] ?? '') === m.value) === want;
    }
    if (m.op !== '=~' && m.op !== '!~') return bad(`matchers[${i}].op`, 'use =, !=, =~ or !~', m.op);
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${m.value})$`);
    } catch (e) {
      return bad(`matchers[${i}].value`, `not a valid regular expression (${(e as Error).message})`, m.value);
    }
    const want = m.op === '=~';
    return (s: SeriesInfo): boolean => re.test(s.labels[m.label] ?? '') === want;
  });
  return (s) => s.name === q.name && tests.every((t) => t(s));
}

/** Percentile (0..100) of ascending values with linear interpolation between closest ranks. */
export function percentileOf(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const x = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(x);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (x - lo);
}

/** Turns per-series accumulators into the result: each series, or aggregated by group. */
export function assemble(
  q: Query,
  series: readonly { info: Pick<SeriesInfo, 'name' | 'labels'>; acc: StepAccumulator }[],
): ResultSeries[] {
  const over = q.over ?? 'avg';
  if (q.agg === undefined) {
    return series.map(({ info, acc }) => {
      const points: [number, number][] = [];
      for (let i = 0; i < acc.n; i++) {
        const v = acc.value(i, over);
        if (v === v) points.push([acc.first + i * acc.step, v]);
      }
      return { labels: { __name__: info.name, ...info.labels }, points };
    });
  }
  const by = q.by ?? [];
  const groups = new Map<string, { labels: Record<string, string>; members: StepAccumulator[] }>();
  for (const { info, acc } of series) {
    const labels: Record<string, string> = {};
    for (const l of by) labels[l] = info.labels[l] ?? '';
    const key = JSON.stringify(by.map((l) => labels[l]));
    const g = groups.get(key);
    if (g === undefined) groups.set(key, { labels, members: [acc] });
    else g.members.push(acc);
  }
  const out: ResultSeries[] = [];
  for (const { labels, members } of groups.values()) {
    const points =
      q.agg === 'percentile' ? percentilePoints(q, members, over) : foldPoints(q.agg, members, over);
    out.push({ labels, points });
  }
  return out.sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
}

/**
 * sum, avg, min, max or count across a group, folded member by member into per-step totals: the
 * same additions and comparisons, in the same order, as reducing each step's values in turn.
 */
function foldPoints(
  agg: Exclude<Aggregation, 'percentile'>,
  members: readonly StepAccumulator[],
  over: Over,
): [number, number][] {
  const first = members[0]!;
  const n = first.n;
  const acc = new Float64Array(n).fill(agg === 'min' ? Infinity : agg === 'max' ? -Infinity : 0);
  const cnt = new Float64Array(n);
  const vs = new Float64Array(n);
  for (const m of members) {
    m.values(over, vs);
    for (let i = 0; i < n; i++) {
      const v = vs[i]!;
      if (v !== v) continue;
      cnt[i] = cnt[i]! + 1;
      if (agg === 'min') acc[i] = v < acc[i]! ? v : acc[i]!;
      else if (agg === 'max') acc[i] = v > acc[i]! ? v : acc[i]!;
      else acc[i] = acc[i]! + v;
    }
  }
  const points: [number, number][] = [];
  for (let i = 0; i < n; i++) {
    const c = cnt[i]!;
    if (c === 0) continue;
    const v = agg === 'avg' ? acc[i]! / c : agg === 'count' ? c : acc[i]!;
    points.push([first.first + i * first.step, v]);
  }
  return points;
}

function percentilePoints(q: Query, members: readonly StepAccumulator[], over: Over): [number, number][] {
  const first = members[0]!;
  const points: [number, number][] = [];
  const vs: number[] = [];
  for (let i = 0; i < first.n; i++) {
    vs.length = 0;
    for (const m of members) {
      const v = m.value(i, over);
      if (v === v) vs.push(v);
    }
    if (vs.length === 0) continue;
    points.push([
      first.first + i * first.step,
      percentileOf(
        vs.sort((a, b) => a - b),
        q.percentile ?? 50,
      ),
    ]);
  }
  return points;
}

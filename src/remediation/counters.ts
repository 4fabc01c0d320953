/**
 * Counter rules, pure: from the series a counter rule's query gave (one per job or per host, points
 * at step alignment over the rule's `for`) to the readings the decision takes. A group is over the
 * bound when it has points, every one of them is above it, and they reach back to the start of the
 * span (a fifth of it, or two steps, may be missing: the first rate needs two samples, and points
 * arrive at the collection interval).
 */
import { jobId, type CounterCondition } from '../model/index.ts';
import type { CounterFacts } from './evaluate.ts';

/** One group's series as the time-series store answers it. */
export interface CounterSeries {
  labels: Readonly<Record<string, string>>;
  points: readonly (readonly [number, number])[];
}

/** What a counter rule's reading spans and steps by, at `now`. */
export function counterSpan(c: CounterCondition, now: number): { start: number; end: number; step: number } {
  const step = Math.max(1000, Math.floor(c.forMs / 30));
  const end = Math.floor(now / step) * step + step;
  return { start: end - Math.ceil(c.forMs / step) * step, end, step };
}

/** The labels the query groups by. */
export function counterGroups(c: CounterCondition): string[] {
  return c.per === 'host' ? ['host'] : ['namespace', 'job'];
}

export function counterFacts(
  c: CounterCondition,
  series: readonly CounterSeries[],
  span: { start: number; step: number },
): CounterFacts[] {
  const out: CounterFacts[] = [];
  const slack = Math.max(2 * span.step, c.forMs / 5);
  for (const s of series) {
    const key =
      c.per === 'host'
        ? s.labels['host']
        : s.labels['job'] === undefined
          ? undefined
          : jobId(s.labels['namespace'] ?? 'default', s.labels['job']);
    if (key === undefined || s.points.length === 0) continue;
    const values = s.points.map(([, v]) => v);
    const first = Math.min(...s.points.map(([t]) => t));
    const newest = s.points.reduce((a, b) => (b[0] > a[0] ? b : a));
    out.push({
      key,
      over: values.every((v) => v > c.above) && first <= span.start + slack,
      last: newest[1],
      lowest: Math.min(...values),
      since: first,
    });
  }
  return out;
}

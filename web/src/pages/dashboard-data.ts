/**
 * From a time-series query's answer (`GET /v1/metrics/query`) to horizon rows: one row per series,
 * one value per step from `start` to `end` (steps without data are null). A panel with `quantile`
 * reads histogram buckets (by `le`) and draws that quantile per step, as Prometheus's
 * histogram_quantile does.
 */
import type { BoardPanel } from '../../../src/model/board.ts';
import type { MetricsQueryResult, MetricsSeries } from '../../../src/model/telemetry.ts';
import type { BoardRow } from '../components/chart-types.ts';

export type Panel = BoardPanel;

function stepsOf(a: MetricsQueryResult): number {
  return Math.max(1, Math.floor((a.end - a.start) / a.step));
}

function valuesOf(a: MetricsQueryResult, s: MetricsSeries): (number | null)[] {
  const values: (number | null)[] = new Array<number | null>(stepsOf(a)).fill(null);
  for (const [t, v] of s.points) {
    const i = Math.floor((t - a.start) / a.step);
    if (i >= 0 && i < values.length) values[i] = v;
  }
  return values;
}

/** The labels that tell a panel's series apart (not __name__, nor a host or namespace they share). */
function namer(series: readonly MetricsSeries[], skip: ReadonlySet<string>) {
  const varying = new Set<string>();
  for (const s of series)
    for (const [k, v] of Object.entries(s.labels))
      if (k !== '__name__' && !skip.has(k) && series.some((o) => o.labels[k] !== v)) varying.add(k);
  return (labels: Record<string, string>): string =>
    Object.entries(labels)
      .filter(([k]) => varying.has(k))
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
}

function row(panel: Panel, labels: string, a: MetricsQueryResult, values: (number | null)[]): BoardRow {
  return {
    key: `${panel.title} ${labels}`,
    title: labels === '' ? panel.title : `${panel.title} · ${labels}`,
    series: { start: a.start, step: a.step, values },
  };
}

/**
 * The q-quantile of one step's cumulative buckets ([upper bound, count]), linearly interpolated
 * inside the bucket the rank falls in (the first bucket's lower bound is 0); null without
 * observations. A rank in the +Inf bucket answers the highest finite bound.
 */
export function bucketQuantile(q: number, buckets: readonly [number, number][]): number | null {
  const sorted = [...buckets].sort((x, y) => x[0] - y[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (sorted.length === 0 || total <= 0) return null;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [le, count] of sorted) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return count === below ? le : lower + ((le - lower) * (rank - below)) / (count - below);
    }
    lower = le === Infinity ? lower : le;
    below = count;
  }
  return lower;
}

function quantileRows(panel: Panel, q: number, a: MetricsQueryResult): BoardRow[] {
  const name = namer(a.series, new Set(['le']));
  const groups = new Map<string, { le: number; values: (number | null)[] }[]>();
  for (const s of a.series) {
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    if (Number.isNaN(le)) continue;
    const key = name(s.labels);
    groups.set(key, [...(groups.get(key) ?? []), { le, values: valuesOf(a, s) }]);
  }
  return [...groups.entries()].map(([labels, buckets]) => {
    const values = Array.from({ length: stepsOf(a) }, (_, i) => {
      const at = buckets.flatMap((b): [number, number][] => {
        const v = b.values[i];
        return v === null || v === undefined ? [] : [[b.le, v]];
      });
      return bucketQuantile(q, at);
    });
    return row(panel, labels, a, values);
  });
}

export function seriesRows(panel: Panel, a: MetricsQueryResult): BoardRow[] {
  if (panel.quantile !== undefined) return quantileRows(panel, panel.quantile, a);
  const name = namer(a.series, new Set());
  return a.series.map((s) => row(panel, name(s.labels), a, valuesOf(a, s)));
}

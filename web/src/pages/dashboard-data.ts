/**
 * From a time-series query's answer (`GET /v1/metrics/query`) to horizon rows: one row
 * per series, one value per step from `start` to `end` (steps without data are null).
 */
import type { MetricsQuery, MetricsQueryResult } from '../../../src/model/telemetry.ts';
import type { BoardRow } from '../components/horizon-board.tsx';

export interface Panel {
  title: string;
  query: MetricsQuery;
}

export function seriesRows(panel: Panel, a: MetricsQueryResult): BoardRow[] {
  const steps = Math.max(1, Math.floor((a.end - a.start) / a.step));
  // Only the labels that tell the panel's series apart name a row (not __name__, nor a host or
  // namespace they all share).
  const varying = new Set<string>();
  for (const s of a.series)
    for (const [k, v] of Object.entries(s.labels))
      if (k !== '__name__' && a.series.some((o) => o.labels[k] !== v)) varying.add(k);
  return a.series.map((s) => {
    const values: (number | null)[] = new Array<number | null>(steps).fill(null);
    for (const [t, v] of s.points) {
      const i = Math.floor((t - a.start) / a.step);
      if (i >= 0 && i < steps) values[i] = v;
    }
    const labels = Object.entries(s.labels)
      .filter(([k]) => varying.has(k))
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return {
      key: `${panel.title} ${labels}`,
      title: labels === '' ? panel.title : `${panel.title} · ${labels}`,
      series: { start: a.start, step: a.step, values },
    };
  });
}

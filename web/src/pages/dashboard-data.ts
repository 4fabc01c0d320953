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
  return a.series.map((s) => {
    const values: (number | null)[] = new Array<number | null>(steps).fill(null);
    for (const [t, v] of s.points) {
      const i = Math.floor((t - a.start) / a.step);
      if (i >= 0 && i < steps) values[i] = v;
    }
    const labels = Object.entries(s.labels)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    return {
      key: `${panel.title} ${labels}`,
      title: labels === '' ? panel.title : `${panel.title} · ${labels}`,
      series: { start: a.start, step: a.step, values },
    };
  });
}

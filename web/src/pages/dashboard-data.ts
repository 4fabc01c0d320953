/**
 * From a time-series query's answer (the shape of `GET /v1/metrics/query`) to horizon rows: one row
 * per series, one value per step from `start` to `end` (steps without data are null).
 */
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { BoardRow } from '../components/horizon-board.tsx';

export interface MetricsQueryLike {
  name: string;
  where?: string[];
  by?: string[];
  rate?: boolean;
  since?: string;
  step?: string;
}

export interface MetricsAnswer {
  start: number;
  end: number;
  step: number;
  series: { labels: Record<string, string>; points: [number, number][] }[];
}

export interface Panel {
  title: string;
  query: MetricsQueryLike;
}

type QueryFn = (q: MetricsQueryLike) => Promise<MetricsAnswer>;

/** The client's metrics query, when this client has one. */
export function metricsOf(client: DabbaClient): QueryFn | undefined {
  const c = client as unknown as { queryMetrics?: QueryFn };
  return typeof c.queryMetrics === 'function'
    ? (q) => (c.queryMetrics as QueryFn).call(client, q)
    : undefined;
}

export function seriesRows(panel: Panel, a: MetricsAnswer): BoardRow[] {
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

/**
 * Request and error rates on the mesh graph's edges, from what the proxies ship to the telemetry
 * store (`mesh_upstream_requests_total` and `mesh_upstream_responses_total{class="5xx"}`, labelled
 * `caller` and `upstream`; docs/mesh.md): per second over the newest whole minute. An edge without such
 * series has no rates (its proxies have shipped none yet).
 */
import type { DabbaClient } from '../../../src/client/browser.ts';
import type { MetricsQueryResult } from '../../../src/model/telemetry.ts';

export interface EdgeRates {
  requests: number;
  errors: number;
}

/** The newest whole step of each caller/upstream series (else its newest), by `caller>upstream`. */
function latest(r: MetricsQueryResult): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of r.series) {
    const last = s.points.findLast(([t]) => t + r.step <= r.end) ?? s.points.at(-1);
    const caller = s.labels['caller'];
    const upstream = s.labels['upstream'];
    if (last !== undefined && caller !== undefined && upstream !== undefined)
      out.set(`${caller}>${upstream}`, last[1]);
  }
  return out;
}

export async function edgeRates(client: DabbaClient): Promise<Map<string, EdgeRates>> {
  const q = { rate: true, by: ['caller', 'upstream'], since: '5m', step: '1m' } as const;
  const [requests, errors] = await Promise.all([
    client.queryMetrics({ ...q, by: [...q.by], name: 'mesh_upstream_requests_total' }),
    client.queryMetrics({ ...q, by: [...q.by], name: 'mesh_upstream_responses_total', where: ['class=5xx'] }),
  ]);
  const err = latest(errors);
  return new Map(
    [...latest(requests)].map(([edge, rps]) => [edge, { requests: rps, errors: err.get(edge) ?? 0 }]),
  );
}

export function rateText(r: EdgeRates | undefined): string | undefined {
  if (r === undefined) return undefined;
  const f = (n: number): string => (n >= 10 ? n.toFixed(0) : n.toFixed(n >= 1 ? 1 : 2));
  return `${f(r.requests)} req/s · ${f(r.errors)} err/s`;
}

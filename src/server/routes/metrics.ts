/**
 * Time-series endpoints: ingest from agents, queries (namespace-scoped), and federation for
 * Prometheus. Without a time-series store (a server started without a data dir) they answer 503.
 */
import { checkBoundHost } from '../../auth/index.ts';
import { DabbaError } from '../../errors/index.ts';
import { ALL_NAMESPACES, INGEST_LIMITS, type MetricsQueryResult } from '../../model/index.ts';
import { parseIngestBatch, parseMetricsQuery, type TelemetryService } from '../../telemetry/server/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';

function unavailable(): DabbaError {
  return new DabbaError(
    'DABBA_E_UNAVAILABLE',
    'this server keeps no time series (it was started without a data dir)',
  );
}

export function metricsRoutes(router: Router, telemetry: TelemetryService | undefined): void {
  router.on('POST', '/v1/metrics/ingest', async ({ req, principal }) => {
    if (telemetry === undefined) throw unavailable();
    const batch = parseIngestBatch(await readJsonBody(req, INGEST_LIMITS.bodyBytes));
    checkBoundHost(principal, batch.host);
    return telemetry.ingest(batch);
  });

  router.on('GET', '/v1/metrics/query', ({ query, namespace }) => {
    if (telemetry === undefined) throw unavailable();
    const { query: q, agg } = parseMetricsQuery(query, telemetry.clock.now());
    if (namespace !== ALL_NAMESPACES) {
      q.matchers = [...(q.matchers ?? []), { label: 'namespace', op: '=', value: namespace }];
    }
    const result: MetricsQueryResult = {
      name: q.name,
      start: q.start,
      end: q.end,
      step: q.step,
      rate: q.rate === true,
      agg,
      by: [...(q.by ?? [])],
      series: telemetry.db.query(q),
    };
    return Promise.resolve(result);
  });
}

/**
 * Time-series endpoints: ingest from agents, queries (namespace-scoped), and federation for
 * Prometheus. Without a time-series store (a server started without a data dir) they answer 503.
 */
import type { ServerResponse } from 'node:http';
import { checkBoundHost } from '../../auth/index.ts';
import { DabbaError } from '../../errors/index.ts';
import { ALL_NAMESPACES, INGEST_LIMITS, type MetricsQueryResult } from '../../model/index.ts';
import {
  OPENMETRICS_TEXT,
  PROMETHEUS_TEXT,
  federate,
  parseIngestBatch,
  parseMetricsQuery,
  parseSelector,
  wantsOpenMetrics,
  type ControlPlaneMetrics,
  type TelemetryService,
} from '../../telemetry/server/index.ts';
import { assemble, mergePartials, type Query } from '../../telemetry/tsdb/index.ts';
import { readJsonBody } from '../http/body.ts';
import { peerShares, type MetricsPeers } from './metrics-fanout.ts';
import { forwardableCredentials, MetricsForwarder, metricsCopyRoutes } from './metrics-replication.ts';
import type { Router } from '../http/router.ts';

function unavailable(): DabbaError {
  return new DabbaError(
    'DABBA_E_UNAVAILABLE',
    'this server keeps no time series (it was started without a data dir)',
  );
}

/** What `GET /metrics` serves: the counters, and a refresh of the gauges read asynchronously. */
export interface ServedMetrics {
  registry: ControlPlaneMetrics;
  refresh?: () => Promise<void>;
}

function sendText(res: ServerResponse, type: string, text: string): void {
  res.writeHead(200, {
    'content-type': type,
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

export function metricsRoutes(
  router: Router,
  telemetry: TelemetryService | undefined,
  metrics: ServedMetrics | undefined,
  peers?: MetricsPeers,
): void {
  const forwarder =
    telemetry === undefined || peers === undefined
      ? undefined
      : new MetricsForwarder(peers, telemetry, metrics?.registry);
  router.on('POST', '/v1/metrics/ingest', async ({ req, principal }) => {
    if (telemetry === undefined) throw unavailable();
    const batch = parseIngestBatch(await readJsonBody(req, INGEST_LIMITS.bodyBytes));
    checkBoundHost(principal, batch.host);
    await forwarder?.register();
    const r = await telemetry.ingest(batch);
    metrics?.registry.ingested(r.accepted, r.duplicate);
    // Applied and durable: one bounded forward to the successor's copy store (a re-send too: the
    // copy store applies it once, and it repairs a forward that failed the first time).
    await forwarder?.forward(batch, forwardableCredentials(principal, req.headers.authorization));
    return r;
  });
  metricsCopyRoutes(router, telemetry, metrics?.registry);

  router.on('GET', '/metrics', async ({ req, res }) => {
    if (metrics === undefined) throw new DabbaError('DABBA_E_NOT_FOUND', 'this server keeps no metrics');
    await metrics.refresh?.();
    const om = wantsOpenMetrics(req.headers.accept);
    sendText(res, om ? OPENMETRICS_TEXT : PROMETHEUS_TEXT, metrics.registry.registry.expose(om));
    return undefined;
  });

  router.on('GET', '/federate', ({ res, query, namespace }) => {
    if (telemetry === undefined) throw unavailable();
    const selectors = query.getAll('match[]').map(parseSelector);
    const extra =
      namespace === ALL_NAMESPACES ? [] : [{ label: 'namespace', op: '=' as const, value: namespace }];
    sendText(res, PROMETHEUS_TEXT, federate(telemetry.db, selectors, extra, telemetry.clock.now()));
    return Promise.resolve(undefined);
  });

  router.on('GET', '/v1/metrics/query', async ({ req, query, namespace, signal }) => {
    if (telemetry === undefined) throw unavailable();
    const { query: q, agg } = parseMetricsQuery(query, telemetry.clock.now());
    if (namespace !== ALL_NAMESPACES) {
      q.matchers = [...(q.matchers ?? []), { label: 'namespace', op: '=', value: namespace }];
    }
    // A replica's own share (or its copies of another store's points), for the replica that fans
    // the query out (never fanned out again).
    if (query.get('partial') === '1') return partialShare(telemetry, q, query.get('copyOf'));
    const local = { storeId: telemetry.storeId, copies: telemetry.copies };
    const shares =
      peers === undefined
        ? undefined
        : await peerShares(peers, req.headers.authorization, query, q, signal, local);
    const series =
      shares === undefined || (shares.parts.length === 0 && shares.missing.length === 0)
        ? telemetry.db.query(q)
        : assemble(q, mergePartials(q, [telemetry.db.partial(q), ...shares.parts]));
    const result: MetricsQueryResult = {
      name: q.name,
      start: q.start,
      end: q.end,
      step: q.step,
      rate: q.rate === true,
      agg,
      by: [...(q.by ?? [])],
      series,
      ...(shares !== undefined && shares.missing.length > 0 ? { missing: shares.missing } : {}),
      ...(shares !== undefined && shares.fromCopies.length > 0 ? { fromCopies: shares.fromCopies } : {}),
    };
    return result;
  });
}

/** `partial=1`: this replica's share, its store id and the origins it holds copies of; with `copyOf`, those copies' share. */
function partialShare(telemetry: TelemetryService, q: Query, copyOf: string | null): unknown {
  if (copyOf === null) {
    return { ...telemetry.db.partial(q), store: telemetry.storeId, copies: telemetry.copies.list() };
  }
  const part = telemetry.copies.partial(copyOf, q);
  if (part === undefined)
    throw new DabbaError('DABBA_E_NOT_FOUND', `this replica holds no copies of store ${copyOf.slice(0, 80)}`);
  return { ...part, store: copyOf, copies: [] };
}

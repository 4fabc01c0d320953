/**
 * A metrics query read in-process, across the replicas, as `GET /v1/metrics/query` answers it: this
 * replica's share merged with every other live replica's (asked with the replica's own credential,
 * PeerCredential), and the copies of any that did not answer. The autoscaler reads its counters
 * through it.
 */
import { DabbaError } from '../errors/index.ts';
import { ALL_NAMESPACES } from '../model/index.ts';
import type { TelemetryService } from '../telemetry/server/index.ts';
import { assemble, mergePartials, type Query } from '../telemetry/tsdb/index.ts';
import type { MetricsReader } from './autoscaler.ts';
import { peerShares, type MetricsPeers } from './routes/metrics-fanout.ts';

/** The query as `GET /v1/metrics/query` parameters (what a peer parses back into the same query). */
export function queryParams(q: Query, namespace: string): URLSearchParams {
  const p = new URLSearchParams({
    name: q.name,
    start: String(q.start),
    end: String(q.end - 1),
    step: `${q.step}ms`,
    namespace,
  });
  for (const m of q.matchers ?? []) p.append('where', `${m.label}${m.op}${m.value}`);
  if (q.rate === true) p.set('rate', '1');
  if (q.over !== undefined) p.set('over', q.over);
  if (q.agg !== undefined) p.set('agg', q.agg === 'percentile' ? `p${q.percentile ?? 50}` : q.agg);
  for (const b of q.by ?? []) p.append('by', b);
  return p;
}

export function metricsReader(o: {
  telemetry: TelemetryService | undefined;
  peers: MetricsPeers | undefined;
  /** The Authorization header for peers (absent when auth is off), asked only when there are peers. */
  authorization?: () => Promise<string>;
}): MetricsReader {
  return async (q, signal) => {
    const telemetry = o.telemetry;
    if (telemetry === undefined)
      throw new DabbaError('DABBA_E_UNAVAILABLE', 'this server keeps no time series (no data dir)');
    if (o.peers === undefined) return telemetry.db.query(q);
    const ns = q.matchers?.find((m) => m.label === 'namespace' && m.op === '=')?.value;
    const params = queryParams(q, ns ?? ALL_NAMESPACES);
    const local = { storeId: telemetry.storeId, copies: telemetry.copies };
    const shares = await peerShares(o.peers, o.authorization, params, q, signal, local);
    // A live replica's part missing is no answer: deciding on it would scale on a share of the
    // points. (A store whose replica is gone and whose copies are gone too stays left out.)
    if (shares.liveMissing.length > 0)
      throw new DabbaError(
        'DABBA_E_UNAVAILABLE',
        `replicas did not answer: ${shares.liveMissing.join('; ')}`,
      );
    if (shares.parts.length === 0) return telemetry.db.query(q);
    return assemble(q, mergePartials(q, [telemetry.db.partial(q), ...shares.parts]));
  };
}

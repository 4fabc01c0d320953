/**
 * A metrics query answered across server replicas. Each replica keeps the points the agents shipped
 * to it (docs/telemetry.md, "Several server replicas"), so the replica asked forwards the query, with
 * the caller's own credentials (each peer checks them and the namespace again), to every other live
 * replica as `partial=1`, merges their shares with its own and aggregates once. A replica that does
 * not answer within the timeout is named in the result's `missing`: the answer is then what the
 * others hold, said so, never an error.
 */
import { Agent } from 'undici';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { checkPartial, type PartialResult, type Query } from '../../telemetry/tsdb/index.ts';
import { withDispatcher } from '../agent-connection.ts';
import type { ServersSource } from './servers.ts';

/** How long a peer has to answer its share. */
export const PEER_QUERY_TIMEOUT_MS = 5_000;

export interface MetricsPeers {
  servers: ServersSource;
  /** The cluster CA (PEM), to check peers' certificates when the API runs over TLS. */
  caPem?: string;
  logger: Logger;
}

export interface PeerShares {
  parts: PartialResult[];
  /** Replicas that did not answer (id: why). */
  missing: string[];
}

let dispatchers: { ca: string; agent: Agent } | undefined;

function dispatcherFor(caPem: string | undefined): Agent | undefined {
  if (caPem === undefined) return undefined;
  if (dispatchers?.ca !== caPem) dispatchers = { ca: caPem, agent: new Agent({ connect: { ca: caPem } }) };
  return dispatchers.agent;
}

/**
 * The shares of every other live replica, asked in parallel, with `authorization` (the caller's, or
 * the replica's own for its autoscaler, made only when there is another replica to ask).
 */
export async function peerShares(
  peers: MetricsPeers,
  authorization: string | undefined | (() => Promise<string>),
  query: URLSearchParams,
  q: Query,
  signal: AbortSignal,
): Promise<PeerShares> {
  let others: { id: string; url: string }[];
  try {
    others = (await peers.servers.view()).replicas.filter((r) => !r.self);
  } catch (e) {
    return { parts: [], missing: [`the other replicas (${messageOf(e)})`] };
  }
  if (others.length === 0) return { parts: [], missing: [] };
  const forwarded = new URLSearchParams(query);
  forwarded.set('partial', '1');
  const headers: Record<string, string> = { accept: 'application/json' };
  const auth = typeof authorization === 'function' ? await authorization() : authorization;
  if (auth !== undefined) headers['authorization'] = auth;
  const dispatcher = dispatcherFor(peers.caPem);
  const answers = await Promise.all(
    others.map(async (r): Promise<PartialResult | string> => {
      try {
        const res = await fetch(
          `${r.url}/v1/metrics/query?${forwarded.toString()}`,
          withDispatcher(
            { headers, signal: AbortSignal.any([signal, AbortSignal.timeout(PEER_QUERY_TIMEOUT_MS)]) },
            dispatcher,
          ),
        );
        const body: unknown = await res.json();
        if (!res.ok) return `${r.id}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`;
        return checkPartial(q, body, `replica ${r.id}`);
      } catch (e) {
        return `${r.id}: ${messageOf(e)}`;
      }
    }),
  );
  const parts: PartialResult[] = [];
  const missing: string[] = [];
  for (const a of answers) {
    if (typeof a === 'string') missing.push(a);
    else parts.push(a);
  }
  if (missing.length > 0) peers.logger.warn({ missing }, 'metrics query: some replicas did not answer');
  return { parts, missing };
}

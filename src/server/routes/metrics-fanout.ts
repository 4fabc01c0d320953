/**
 * A metrics query answered across server replicas. Each replica keeps the points the agents shipped
 * to it (docs/telemetry.md, "Several server replicas"), so the replica asked forwards the query, with
 * the caller's own credentials (each peer checks them and the namespace again), to every other live
 * replica as `partial=1`, merges their shares with its own and aggregates once.
 *
 * Each share names the store it comes from and the origins whose copies that replica holds
 * (metrics-replication.ts). For every store that gave no share of its own (its replica dead, frozen,
 * or gone from `/servers/`), the holders of its copies are asked for `partial=1&copyOf=STORE` and
 * their shares stand in for it (named in `fromCopies`). What neither the store nor a copy answered
 * for is named in the result's `missing`: the answer is then what the others hold, said so, never
 * an error.
 */
import { Agent } from 'undici';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { Store } from '../../store/index.ts';
import type { CopyStores } from '../../telemetry/server/index.ts';
import { checkPartial, type PartialResult, type Query } from '../../telemetry/tsdb/index.ts';
import { withDispatcher } from '../agent-connection.ts';
import { knownStores } from './metrics-stores.ts';
import type { ServersSource } from './servers.ts';

/** How long a peer has to answer its share. */
export const PEER_QUERY_TIMEOUT_MS = 5_000;

export interface MetricsPeers {
  servers: ServersSource;
  /** The cluster CA (PEM), to check peers' certificates when the API runs over TLS. */
  caPem?: string;
  logger: Logger;
  /** The cluster store: where the stores that hold points are listed (metrics-stores.ts). */
  store?: Store;
  /** This replica's own credential (forwarding batches of agents that authenticated by certificate). */
  credential?: { headers(): Promise<Record<string, string>> };
}

/** This replica's own store and copies. */
export interface LocalShares {
  storeId: string;
  copies: CopyStores;
}

export interface PeerShares {
  parts: PartialResult[];
  /** Replicas (or stores) whose points are not in the parts (id: why). */
  missing: string[];
  /**
   * Those of `missing` that are live replicas (registered under `/servers/`); the others are
   * stores whose replica is gone (what a query left out before replication, silently).
   */
  liveMissing: string[];
  /** Stores whose points came from their copies (replica id: where from). */
  fromCopies: string[];
}

/** A replica's share as it travels: the partial result, its store and the copies it holds. */
interface Share {
  part: PartialResult;
  store: string;
  copies: { store: string; replica: string }[];
}

let dispatchers: { ca: string; agent: Agent } | undefined;

export function dispatcherFor(caPem: string | undefined): Agent | undefined {
  if (caPem === undefined) return undefined;
  if (dispatchers?.ca !== caPem) dispatchers = { ca: caPem, agent: new Agent({ connect: { ca: caPem } }) };
  return dispatchers.agent;
}

function checkShare(q: Query, body: unknown, from: string): Share {
  const part = checkPartial(q, body, from);
  const b = body as { store?: unknown; copies?: unknown };
  const store = typeof b.store === 'string' ? b.store : `unknown:${from}`;
  const copies = Array.isArray(b.copies)
    ? (b.copies as unknown[]).filter(
        (c): c is { store: string; replica: string } =>
          typeof c === 'object' &&
          c !== null &&
          typeof (c as { store?: unknown }).store === 'string' &&
          typeof (c as { replica?: unknown }).replica === 'string',
      )
    : [];
  return { part, store, copies };
}

async function ask(
  peers: MetricsPeers,
  url: string,
  params: URLSearchParams,
  headers: Record<string, string>,
  q: Query,
  signal: AbortSignal,
  from: string,
): Promise<Share | string> {
  try {
    const res = await fetch(
      `${url}/v1/metrics/query?${params.toString()}`,
      withDispatcher(
        { headers, signal: AbortSignal.any([signal, AbortSignal.timeout(PEER_QUERY_TIMEOUT_MS)]) },
        dispatcherFor(peers.caPem),
      ),
    );
    const body: unknown = await res.json();
    if (!res.ok) return `${res.status} ${JSON.stringify(body).slice(0, 200)}`;
    return checkShare(q, body, from);
  } catch (e) {
    return messageOf(e);
  }
}

/**
 * The shares of every other live replica, asked in parallel, with `authorization` (the caller's, or
 * the replica's own for its autoscaler, made only when there is another replica to ask); then the
 * copies of every store that gave no share.
 */
export async function peerShares(
  peers: MetricsPeers,
  authorization: string | undefined | (() => Promise<string>),
  query: URLSearchParams,
  q: Query,
  signal: AbortSignal,
  local: LocalShares,
): Promise<PeerShares> {
  let others: { id: string; url: string }[];
  try {
    others = (await peers.servers.view()).replicas.filter((r) => !r.self);
  } catch (e) {
    const why = [`the other replicas (${messageOf(e)})`];
    return { parts: [], missing: why, liveMissing: why, fromCopies: [] };
  }
  const ownCopies = local.copies.list();
  // Alone, without copies: nothing to merge, unless a store listed as holding points is gone.
  if (others.length === 0 && ownCopies.length === 0 && peers.store === undefined)
    return { parts: [], missing: [], liveMissing: [], fromCopies: [] };
  const forwarded = new URLSearchParams(query);
  forwarded.set('partial', '1');
  forwarded.delete('copyOf');
  const headers: Record<string, string> = { accept: 'application/json' };
  const auth = typeof authorization === 'function' ? await authorization() : authorization;
  if (auth !== undefined) headers['authorization'] = auth;
  const [answers, known] = await Promise.all([
    Promise.all(
      others.map(async (r) => ({
        r,
        a: await ask(peers, r.url, forwarded, headers, q, signal, `replica ${r.id}`),
      })),
    ),
    peers.store === undefined
      ? new Map<string, string>()
      : knownStores(peers.store).catch((e: unknown) => {
          peers.logger.warn({ err: e }, 'metrics query: the list of stores could not be read');
          return new Map<string, string>();
        }),
  ]);
  const parts: PartialResult[] = [];
  const answered = new Set([local.storeId]);
  const failed = new Map<string, string>();
  // Who holds copies of which store: '' is this replica.
  const holders = new Map<string, { replica: string; at: { id: string; url: string }[] }>();
  const hold = (c: { store: string; replica: string }, at: { id: string; url: string }): void => {
    const h = holders.get(c.store) ?? { replica: c.replica, at: [] };
    h.at.push(at);
    holders.set(c.store, h);
  };
  for (const c of ownCopies) hold(c, { id: '', url: '' });
  for (const { r, a } of answers) {
    if (typeof a === 'string') {
      failed.set(r.id, a);
      continue;
    }
    parts.push(a.part);
    answered.add(a.store);
    for (const c of a.copies) hold(c, r);
  }
  const missing: string[] = [];
  const liveMissing: string[] = [];
  const miss = (replica: string, text: string): void => {
    missing.push(text);
    if (failed.has(replica)) liveMissing.push(text);
  };
  const fromCopies: string[] = [];
  const covered = new Set<string>();
  const absent = new Set([...holders.keys(), ...known.keys()].filter((s) => !answered.has(s)));
  for (const store of absent) {
    const h = holders.get(store);
    const replica = h?.replica ?? known.get(store) ?? store;
    if (h === undefined) {
      miss(
        replica,
        `${replica}: ${failed.get(replica) ?? 'gone'}; no live replica holds a copy of its points`,
      );
      covered.add(replica);
      continue;
    }
    const copyParams = new URLSearchParams(forwarded);
    copyParams.set('copyOf', store);
    const got = await Promise.all(
      h.at.map(async (at) => {
        if (at.id === '') return local.copies.partial(store, q) ?? 'no copies here any more';
        const a = await ask(peers, at.url, copyParams, headers, q, signal, `replica ${at.id} (copies)`);
        return typeof a === 'string' ? `${at.id}: ${a}` : a.part;
      }),
    );
    const bad = got.filter((g): g is string => typeof g === 'string');
    for (const g of got) if (typeof g !== 'string') parts.push(g);
    const where = h.at.map((at) => (at.id === '' ? 'this replica' : at.id)).join(', ');
    if (bad.length === 0) fromCopies.push(`${replica}: from its copies on ${where}`);
    else
      miss(
        replica,
        `${replica}: ${failed.get(replica) ?? 'gone'}; its copies did not all answer (${bad.join('; ')})`,
      );
    covered.add(replica);
  }
  for (const [id, why] of failed) if (!covered.has(id)) miss(id, `${id}: ${why}`);
  if (missing.length > 0) peers.logger.warn({ missing }, 'metrics query: some replicas did not answer');
  return { parts, missing, liveMissing, fromCopies };
}

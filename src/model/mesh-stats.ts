/**
 * The mesh's stats (`dabba mesh stats`, `GET /v1/mesh/stats`): what every host's proxy counted per
 * caller and upstream (its backend) and per task of the upstream (a server of that backend), and
 * their sums over the hosts. Pure and browser-safe: the agent builds the per-host rows, the server
 * adds them up, the CLI prints them.
 */

/** The latency histogram's upper bounds in milliseconds (the last bucket is everything above). */
export const MESH_LATENCY_BUCKETS_MS = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000] as const;

export interface MeshLatency {
  /** Requests measured (answered or refused by the proxy; from its access log). */
  count: number;
  /** The sum of their total times (ms). */
  sumMs: number;
  /**
   * Requests per bucket, not cumulative: `buckets[i]` counts times <= MESH_LATENCY_BUCKETS_MS[i]
   * (and above the bound before); the last entry counts those above every bound.
   */
  buckets: number[];
  /** The largest total time seen (ms). */
  maxMs: number;
}

export interface MeshCounters {
  /** Requests the proxy took for this upstream (or sent to this task). */
  requests: number;
  /** Responses by status class, those the proxy made itself (403, 503) included. */
  responses: { '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number; other: number };
  /** Connection retries (HAProxy's `wretr`) and redispatches to another task (`wredis`). */
  retries: number;
  redispatches: number;
  /** Requests that ran out of time waiting for the task (connect, headers or data). */
  timeouts: number;
  /** Requests refused with 503 after waiting `inbound.queueTimeout` for a free slot. */
  queueTimeouts: number;
  /** Failed connections to the task (queue timeouts are counted apart). */
  connectErrors: number;
  /** Times a task was taken out (outlier ejection or failed health checks: HAProxy's `chkdown`). */
  ejections: number;
  /** Connections open now (a gauge). */
  connections: number;
  /** Requests waiting for a slot now (a gauge). */
  queued: number;
  latency: MeshLatency;
}

/** One row: a caller's upstream, or (with `task`) one task of it, on one host or summed. */
export interface MeshStatsRow extends MeshCounters {
  caller: string;
  upstream: string;
  /** The upstream's task; absent in an upstream's row. */
  task?: string;
  /** Down or in maintenance now, on some host (task rows). */
  state?: 'up' | 'down' | 'maint';
}

/**
 * Requests a proxy refused with 403 because the dependency file does not let `caller` call
 * `upstream`: on the caller's own host (`outbound`) or on the inbound side of the upstream's host
 * (`inbound`: the caller proxy's header named a pair the file does not declare).
 */
export interface MeshDeniedRow {
  caller: string;
  upstream: string;
  side: 'outbound' | 'inbound';
  count: number;
}

/** One host's proxy: what its agent answers at `GET /v1/mesh/stats`. */
export interface HostMeshStats {
  host: string;
  /** When the proxy's worker started (epoch ms; counters from HAProxy count from then). */
  since: number;
  upstreams: MeshStatsRow[];
  tasks: MeshStatsRow[];
  /** 403s per caller (from the access log, counted from the agent's start). */
  denied?: MeshDeniedRow[];
}

/** `GET /v1/mesh/stats[?service=S]`: sums over every host that answered, and those that did not. */
export interface MeshStatsView {
  service?: string;
  hosts: { host: string; ok: boolean; error?: string }[];
  upstreams: MeshStatsRow[];
  tasks: MeshStatsRow[];
  /** 403s per caller, upstream and side, summed over the hosts. */
  denied?: MeshDeniedRow[];
}

/** Sums denied rows of several hosts by (caller, upstream, side); sorted. */
export function sumDenied(rows: Iterable<MeshDeniedRow>): MeshDeniedRow[] {
  const out = new Map<string, MeshDeniedRow>();
  for (const r of rows) {
    const k = `${r.caller}\u0000${r.upstream}\u0000${r.side}`;
    const acc = out.get(k);
    if (acc === undefined) out.set(k, { ...r });
    else acc.count += r.count;
  }
  return [...out.values()].sort(
    (a, b) =>
      a.caller.localeCompare(b.caller) ||
      a.upstream.localeCompare(b.upstream) ||
      a.side.localeCompare(b.side),
  );
}

export function emptyCounters(): MeshCounters {
  return {
    requests: 0,
    responses: { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 },
    retries: 0,
    redispatches: 0,
    timeouts: 0,
    queueTimeouts: 0,
    connectErrors: 0,
    ejections: 0,
    connections: 0,
    queued: 0,
    latency: { count: 0, sumMs: 0, buckets: MESH_LATENCY_BUCKETS_MS.map(() => 0).concat(0), maxMs: 0 },
  };
}

/** The bucket a time (ms) falls in. */
export function latencyBucket(ms: number): number {
  const i = MESH_LATENCY_BUCKETS_MS.findIndex((b) => ms <= b);
  return i === -1 ? MESH_LATENCY_BUCKETS_MS.length : i;
}

/** Adds `b` into `a` (gauges add too: connections on every host). */
export function addCounters(a: MeshCounters, b: MeshCounters): void {
  a.requests += b.requests;
  for (const k of Object.keys(a.responses) as (keyof MeshCounters['responses'])[])
    a.responses[k] += b.responses[k];
  a.retries += b.retries;
  a.redispatches += b.redispatches;
  a.timeouts += b.timeouts;
  a.queueTimeouts += b.queueTimeouts;
  a.connectErrors += b.connectErrors;
  a.ejections += b.ejections;
  a.connections += b.connections;
  a.queued += b.queued;
  a.latency.count += b.latency.count;
  a.latency.sumMs += b.latency.sumMs;
  a.latency.maxMs = Math.max(a.latency.maxMs, b.latency.maxMs);
  b.latency.buckets.forEach((n, i) => {
    a.latency.buckets[i] = (a.latency.buckets[i] ?? 0) + n;
  });
}

const rowKey = (r: MeshStatsRow): string => `${r.caller}\u0000${r.upstream}\u0000${r.task ?? ''}`;

const STATE_RANK = { up: 0, maint: 1, down: 2 } as const;

/** Sums rows of several hosts by (caller, upstream, task); sorted. A task down anywhere is down. */
export function sumRows(rows: Iterable<MeshStatsRow>): MeshStatsRow[] {
  const out = new Map<string, MeshStatsRow>();
  for (const r of rows) {
    const k = rowKey(r);
    let acc = out.get(k);
    if (acc === undefined) {
      acc = {
        caller: r.caller,
        upstream: r.upstream,
        ...(r.task === undefined ? {} : { task: r.task }),
        ...emptyCounters(),
      };
      out.set(k, acc);
    }
    addCounters(acc, r);
    if (r.state !== undefined && (acc.state === undefined || STATE_RANK[r.state] > STATE_RANK[acc.state]))
      acc.state = r.state;
  }
  return [...out.values()].sort((a, b) => rowKey(a).localeCompare(rowKey(b)));
}

/** Whether a row concerns `service`, as a caller or as the upstream. */
export function rowOfService(r: { caller: string; upstream: string }, service: string): boolean {
  return r.caller === service || r.upstream === service;
}

/**
 * The q-quantile (0..1) of a histogram in ms, interpolated linearly inside its bucket (as
 * Prometheus's histogram_quantile does); the last bucket answers the largest time seen. Undefined
 * when it is empty.
 */
export function latencyQuantile(l: MeshLatency, q: number): number | undefined {
  if (l.count === 0) return undefined;
  const rank = q * l.count;
  let seen = 0;
  for (let i = 0; i < l.buckets.length; i++) {
    const n = l.buckets[i] ?? 0;
    if (n > 0 && seen + n >= rank) {
      const upper = MESH_LATENCY_BUCKETS_MS[i];
      if (upper === undefined) return Math.max(l.maxMs, MESH_LATENCY_BUCKETS_MS.at(-1) ?? 0);
      const lower = i === 0 ? 0 : (MESH_LATENCY_BUCKETS_MS[i - 1] ?? 0);
      const v = lower + ((upper - lower) * (rank - seen)) / n;
      return l.maxMs > 0 ? Math.min(v, l.maxMs) : v;
    }
    seen += n;
  }
  return l.maxMs;
}

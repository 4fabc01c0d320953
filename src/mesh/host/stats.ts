/**
 * A host's mesh stats: HAProxy's own counters (`show stat` on the admin socket: requests, responses
 * by class, retries, redispatches, connect errors, ejections, open connections, queue) per backend
 * (a caller's upstream) and per server (a task of it), with what its access log adds (latency
 * histogram, timeouts, queue timeouts; see access-tail.ts). Also as samples for the telemetry store.
 */
import {
  MESH_LATENCY_BUCKETS_MS,
  emptyCounters,
  type HostMeshStats,
  type MeshCounters,
  type MeshDeniedRow,
  type MeshStatsRow,
  type MetricKind,
} from '../../model/index.ts';
import type { LogCounts } from './access-tail.ts';
import type { MeshRoute } from './plan.ts';
import { runtimeCommand } from './runtime-api.ts';

/** `show stat` as one record per line, keyed by its header's field names. */
export function parseShowStat(csv: string): Record<string, string>[] {
  const lines = csv.split('\n');
  const header = (lines[0] ?? '').replace(/^# /, '').split(',');
  const out: Record<string, string>[] = [];
  for (const line of lines.slice(1)) {
    if (line.trim() === '') continue;
    const values = line.split(',');
    const rec: Record<string, string> = {};
    header.forEach((h, i) => {
      if (h !== '') rec[h] = values[i] ?? '';
    });
    out.push(rec);
  }
  return out;
}

const num = (r: Record<string, string>, k: string): number => {
  const v = Number(r[k]);
  return Number.isFinite(v) ? v : 0;
};

function counters(r: Record<string, string>, log: LogCounts | undefined): MeshCounters {
  const c = emptyCounters();
  c.requests = num(r, 'req_tot');
  c.responses = {
    '1xx': num(r, 'hrsp_1xx'),
    '2xx': num(r, 'hrsp_2xx'),
    '3xx': num(r, 'hrsp_3xx'),
    '4xx': num(r, 'hrsp_4xx'),
    '5xx': num(r, 'hrsp_5xx'),
    other: num(r, 'hrsp_other'),
  };
  c.retries = num(r, 'wretr');
  c.redispatches = num(r, 'wredis');
  c.ejections = num(r, 'chkdown');
  c.connections = num(r, 'scur');
  c.queued = num(r, 'qcur');
  if (log !== undefined) {
    c.timeouts = log.timeouts;
    c.queueTimeouts = log.queueTimeouts;
    c.latency = structuredClone(log.latency);
  }
  // HAProxy counts a request that timed out in a queue as a failed connection too.
  c.connectErrors = Math.max(0, num(r, 'econ') - (r['svname'] === 'BACKEND' ? c.queueTimeouts : 0));
  return c;
}

function stateOf(status: string | undefined): MeshStatsRow['state'] {
  if (status === undefined) return undefined;
  if (status.startsWith('MAINT') || status.startsWith('DRAIN')) return 'maint';
  return status.startsWith('UP') || status === 'no check' ? 'up' : 'down';
}

/** The caller name of the rows of inbound backends (requests from other hosts' proxies). */
export const INBOUND_CALLER = '_inbound';

/** What else a host's stats are read for: its inbound backends, and the log's 403s. */
export interface ProxyStatsExtra {
  inbound?: readonly { service: string; backend: string }[];
  denied?: ReadonlyMap<string, number>;
}

/**
 * The stats of the proxy at `socket` for `routes` (and its inbound backends, as caller
 * `_inbound`), with the access log's counts. Servers that are other hosts' proxies (`peer_*`) are
 * no task: their requests are in the upstream's row, and in the task rows of those hosts.
 */
export async function readProxyStats(
  socket: string,
  routes: readonly MeshRoute[],
  log: ReadonlyMap<string, LogCounts>,
  host: string,
  now: number,
  extra: ProxyStatsExtra = {},
): Promise<HostMeshStats> {
  const [csv, info] = await Promise.all([
    runtimeCommand(socket, 'show stat'),
    runtimeCommand(socket, 'show info'),
  ]);
  const uptime = Number(/^Uptime_sec: (\d+)/m.exec(info)?.[1] ?? 0);
  const byBackend = new Map<string, { caller: string; upstream: string; backend: string }>(
    routes.map((r) => [r.backend, r]),
  );
  for (const s of extra.inbound ?? [])
    byBackend.set(s.backend, { caller: INBOUND_CALLER, upstream: s.service, backend: s.backend });
  const upstreams: MeshStatsRow[] = [];
  const tasks: MeshStatsRow[] = [];
  for (const rec of parseShowStat(csv)) {
    const route = byBackend.get(rec['pxname'] ?? '');
    const sv = rec['svname'] ?? '';
    if (route === undefined || sv === 'FRONTEND') continue;
    const at = { caller: route.caller, upstream: route.upstream };
    if (sv === 'BACKEND') upstreams.push({ ...at, ...counters(rec, log.get(route.backend)) });
    else if (!sv.startsWith('peer_')) {
      const state = stateOf(rec['status']);
      tasks.push({
        ...at,
        task: sv,
        ...(state === undefined ? {} : { state }),
        ...counters(rec, log.get(`${route.backend}/${sv}`)),
      });
    }
  }
  // A backend's chkdown counts only the times all its servers were down: count the tasks' instead.
  for (const u of upstreams)
    u.ejections = tasks
      .filter((t) => t.caller === u.caller && t.upstream === u.upstream)
      .reduce((n, t) => n + t.ejections, 0);
  const denied: MeshDeniedRow[] = [...(extra.denied ?? new Map<string, number>())].map(([k, count]) => {
    const [side, caller = '', upstream = ''] = k.split('\0');
    return { side: side === 'inbound' ? 'inbound' : 'outbound', caller, upstream, count };
  });
  return { host, since: now - uptime * 1000, upstreams, tasks, ...(denied.length > 0 ? { denied } : {}) };
}

/** A sample for the telemetry store (the shape of src/telemetry/agent's Sample). */
export interface MeshSample {
  name: string;
  labels: Record<string, string>;
  kind: MetricKind;
  value: number;
}

/**
 * The stats as samples: `mesh_upstream_*` per caller and upstream, `mesh_task_*` per task of it,
 * labelled `caller`, `upstream` (also as `job`, in namespace `default`) and `task`; the latency as a
 * histogram in seconds (`_bucket{le}` cumulative, `_count`, `_sum`).
 */
export function meshSamples(stats: HostMeshStats): MeshSample[] {
  const out: MeshSample[] = [];
  // The inbound side's rows are their own series: a caller's edge to an upstream is counted once.
  const inb = (r: MeshStatsRow): string => (r.caller === INBOUND_CALLER ? 'inbound_' : '');
  const rows: [string, MeshStatsRow][] = [
    ...stats.upstreams.map((r): [string, MeshStatsRow] => [`mesh_${inb(r) || 'upstream_'}`, r]),
    ...stats.tasks.map((r): [string, MeshStatsRow] => [`mesh_${inb(r)}task_`, r]),
  ];
  for (const [prefix, r] of rows) {
    const labels: Record<string, string> = {
      caller: r.caller,
      upstream: r.upstream,
      job: r.upstream,
      namespace: 'default',
      ...(r.task === undefined ? {} : { task: r.task }),
    };
    const counter = (name: string, value: number, extra: Record<string, string> = {}): void =>
      void out.push({ name: prefix + name, labels: { ...labels, ...extra }, kind: 'counter', value });
    const gauge = (name: string, value: number): void =>
      void out.push({ name: prefix + name, labels, kind: 'gauge', value });
    counter('requests_total', r.requests);
    for (const [cls, n] of Object.entries(r.responses)) counter('responses_total', n, { class: cls });
    counter('retries_total', r.retries);
    counter('redispatches_total', r.redispatches);
    counter('timeouts_total', r.timeouts);
    counter('queue_timeouts_total', r.queueTimeouts);
    counter('connect_errors_total', r.connectErrors);
    counter('ejections_total', r.ejections);
    gauge('connections', r.connections);
    gauge('queued', r.queued);
    let cumulative = 0;
    r.latency.buckets.forEach((n, i) => {
      cumulative += n;
      const bound = MESH_LATENCY_BUCKETS_MS[i];
      counter('latency_seconds_bucket', cumulative, {
        le: bound === undefined ? '+Inf' : String(bound / 1000),
      });
    });
    counter('latency_seconds_count', r.latency.count);
    counter('latency_seconds_sum', r.latency.sumMs / 1000);
  }
  for (const d of stats.denied ?? [])
    out.push({
      name: 'mesh_denied_total',
      labels: { caller: d.caller, upstream: d.upstream, side: d.side, job: d.upstream, namespace: 'default' },
      kind: 'counter',
      value: d.count,
    });
  return out;
}

/**
 * The HAProxy config file of a host's proxy (pure): global settings with the admin socket, one
 * frontend per (caller, upstream) and per caller (Host-header routing, 403 for an upstream the
 * caller did not declare), one backend per (caller, upstream) with its policy. Servers come and go
 * through the runtime API, so an endpoint change never reloads the proxy; the file lists those known
 * when it is written (at a start or a structural reload), so a new worker serves from its first
 * request instead of answering 503 until they are added again.
 */
import { createHash } from 'node:crypto';
import { INGRESS, type ProxyLayout, type ProxyServer } from './plan.ts';
import {
  CALLER_HEADER,
  UPSTREAM_HEADER,
  inboundServerParams,
  peerServerParams,
  renderInbound,
} from './render-inbound.ts';

/**
 * p2c would be `random(2)`, but HAProxy 2.6 (Debian 12's) never picks some servers added through
 * the runtime API with random(): in test/mesh/proxy.test.ts one of three dynamic servers got no
 * request in 60. Until the proxy is newer, p2c is rendered as leastconn, which picks the least
 * loaded of all servers (what P2C approximates) and spreads ties round-robin.
 */
const BALANCE = { p2c: 'leastconn', 'round-robin': 'roundrobin', 'least-connections': 'leastconn' } as const;

/** Statuses HAProxy's retry-on knows, from the dependency file's spelling. */
function retryOn(on: readonly string[]): string {
  return on.map((o) => (o === 'connect-failure' ? 'conn-failure' : o)).join(' ');
}

const ms = (n: number): string => `${String(n)}ms`;

/** JSON access log line: one object per request (for the log tables). */
const LOG_FORMAT =
  '{"ts":"%tr","caller":"%[var(txn.caller)]","upstream":"%[var(txn.upstream)]","frontend":"%f","backend":"%b",' +
  '"server":"%s","method":"%HM","path":"%HPO","status":%ST,"bytes":%B,"retries":"%rc","queue_ms":%Tw,' +
  '"connect_ms":%Tc,"response_ms":%Tr,"total_ms":%Ta,"termination":"%ts","request_id":"%ID",' +
  '"traceparent":"%[capture.req.hdr(0)]"}';

/** The digest of the structure alone (the config without servers): a change of it means a reload. */
export function structureDigest(layout: ProxyLayout, paths: { socket: string }): string {
  return createHash('sha256').update(renderConfig(layout, paths)).digest('hex').slice(0, 32);
}

/** The line of a written config that names its structure. */
export const structureLine = (digest: string): string => `# structure ${digest}`;

/**
 * The config text. With `servers` (by backend), each backend lists them with their parameters and
 * the text carries the structure's digest; without, it is the structure alone.
 */
export function renderConfig(
  layout: ProxyLayout,
  paths: { socket: string },
  servers?: ReadonlyMap<string, readonly ProxyServer[]>,
): string {
  const l: string[] = [];
  const add = (...lines: string[]): void => void l.push(...lines);
  add(
    '# Written by the Dabba agent: do not edit (endpoints change through the runtime API).',
    ...(servers === undefined ? [] : [structureLine(structureDigest(layout, paths))]),
    'global',
    `  stats socket ${paths.socket} mode 600 level admin`,
    '  log stdout format raw local0',
    '  hard-stop-after 30s',
    '',
    'defaults',
    '  mode http',
    '  log global',
    `  log-format '${LOG_FORMAT}'`,
    '  option http-keep-alive',
    '  timeout client 60s',
    '  timeout http-request 10s',
    '',
  );
  for (const c of layout.callers) {
    add(
      `frontend fe_${c.service}`,
      `  bind ${layout.taskAddress}:${String(c.port)}`,
      '  declare capture request len 128',
      '  http-request capture req.hdr(traceparent) id 0',
      `  http-request set-var(txn.caller) str(${c.service})`,
      '  http-request set-var(txn.upstream) req.hdr(host),field(1,:),lower',
      '  unique-id-format %[req.hdr(x-request-id)]',
      '  http-request set-header X-Request-Id %[uuid] unless { req.hdr(x-request-id) -m found }',
      `  http-request deny deny_status 403 unless { var(txn.upstream) -m str ${c.upstreams.join(' ')} }`,
      ...c.upstreams.map((u) => `  use_backend be_${c.service}__${u} if { var(txn.upstream) -m str ${u} }`),
      '',
    );
  }
  for (const r of layout.routes) {
    const p = r.policy;
    const queue = r.queueTimeoutMs > 0 ? r.queueTimeoutMs : p.timeoutMs;
    add(
      `frontend fe_${r.caller}__${r.upstream}`,
      // Ingress listens where users reach the host; a caller's listener where its tasks reach the proxy.
      `  bind ${r.caller === INGRESS ? layout.address : layout.taskAddress}:${String(r.port)}`,
      '  declare capture request len 128',
      '  http-request capture req.hdr(traceparent) id 0',
      `  http-request set-var(txn.caller) str(${r.caller})`,
      `  http-request set-var(txn.upstream) str(${r.upstream})`,
      '  unique-id-format %[req.hdr(x-request-id)]',
      '  http-request set-header X-Request-Id %[uuid] unless { req.hdr(x-request-id) -m found }',
      `  default_backend ${r.backend}`,
      '',
      `backend ${r.backend}`,
      `  balance ${BALANCE[p.loadBalancing]}`,
      `  timeout connect ${ms(p.connectTimeoutMs)}`,
      `  timeout server ${ms(Math.min(p.retries.perTryTimeoutMs, p.timeoutMs))}`,
      `  timeout queue ${ms(queue)}`,
      `  retries ${String(p.retries.max)}`,
      // Idle connections to a task or to another host's proxy serve any request: fewer TLS
      // handshakes between proxies (a storm of them under load was the two-hop path's failure).
      '  http-reuse always',
      ...(p.retries.max > 0 ? [`  retry-on ${retryOn(p.retries.on)}`, '  option redispatch 1'] : []),
      ...(p.retries.methods === 'idempotent'
        ? ['  http-request disable-l7-retry unless { method GET HEAD PUT DELETE OPTIONS TRACE }']
        : []),
      // Who calls what, for the inbound side of the host the request goes to (never the task's word).
      `  http-request set-header ${CALLER_HEADER} ${r.caller}`,
      `  http-request set-header ${UPSTREAM_HEADER} ${r.upstream}`,
      ...(servers?.get(r.backend) ?? []).map(
        (s) => `  server ${s.name} ${s.address}:${String(s.port)} ${serverParams(layout, r.backend, s)}`,
      ),
      '',
    );
  }
  if (layout.inbound !== undefined) add(...renderInbound(layout.inbound, layout.address, servers));
  return `${l.join('\n')}\n`;
}

/**
 * The parameters of a server added through the runtime API (dynamic servers take no defaults): a
 * task of a caller's backend, another host's proxy (`server.peer`), or a task of an inbound backend.
 */
export function serverParams(layout: ProxyLayout, backend: string, server?: ProxyServer): string {
  const r = layout.routes.find((x) => x.backend === backend);
  if (r === undefined) {
    const s = layout.inbound?.services.find((x) => x.backend === backend);
    return s === undefined ? '' : inboundServerParams(s);
  }
  const o = r.policy.outlierDetection;
  const cb = r.policy.circuitBreaker;
  if (server?.peer !== undefined && layout.inbound !== undefined)
    return peerServerParams(layout.inbound, cb, server);
  const maxconn = Math.min(r.maxConcurrency, cb.maxConnections);
  return [
    `maxconn ${String(maxconn)}`,
    `maxqueue ${String(cb.maxPending)}`,
    'check inter 2s',
    `downinter ${ms(o.ejectionTimeMs)}`,
    'rise 1 fall 3',
    'observe layer7',
    `error-limit ${String(o.consecutive5xx)}`,
    'on-error mark-down',
  ].join(' ');
}

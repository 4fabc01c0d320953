/**
 * The inbound side's part of the HAProxy config (pure; see inbound-plan.ts): a frontend that takes
 * only connections presenting a certificate from the cluster CA (`verify required`), trusts the
 * caller and upstream headers set by the calling host's proxy, answers 403 to a pair the dependency
 * file does not declare, and routes to the upstream's inbound backend (its tasks on this host, with
 * its inbound limits and outlier ejection).
 */
import type { InboundLayout, InboundService } from './inbound-plan.ts';
import type { ProxyServer } from './plan.ts';

/** Headers the calling proxy sets (overwriting the task's) and the inbound side reads. */
export const CALLER_HEADER = 'X-Dabba-Caller';
export const UPSTREAM_HEADER = 'X-Dabba-Upstream';

/** The frontend name of the inbound side (the access log's `frontend` for its requests). */
export const INBOUND_FRONTEND = 'fe_inbound';

const ms = (n: number): string => `${String(n)}ms`;

export function renderInbound(
  inbound: InboundLayout,
  address: string,
  servers?: ReadonlyMap<string, readonly ProxyServer[]>,
): string[] {
  const l: string[] = [];
  const pairs = inbound.services.flatMap((s) => s.callers.map((c) => `${c}/${s.service}`));
  const tls = `ssl crt ${inbound.tls.crt} ca-file ${inbound.tls.caFile} verify required alpn h2,http/1.1`;
  l.push(
    `# tls ${inbound.tls.digest}`,
    `frontend ${INBOUND_FRONTEND}`,
    `  bind ${address}:${String(inbound.port)} ${tls}`,
    '  option dontlognull',
    '  declare capture request len 128',
    '  http-request capture req.hdr(traceparent) id 0',
    `  http-request set-var(txn.caller) req.hdr(${CALLER_HEADER})`,
    `  http-request set-var(txn.upstream) req.hdr(${UPSTREAM_HEADER}),lower`,
    '  http-request set-var(txn.pair) var(txn.caller),concat(/,txn.upstream,)',
    '  unique-id-format %[req.hdr(x-request-id)]',
    '  http-request set-header X-Request-Id %[uuid] unless { req.hdr(x-request-id) -m found }',
    pairs.length === 0
      ? '  http-request deny deny_status 403'
      : `  http-request deny deny_status 403 unless { var(txn.pair) -m str ${pairs.join(' ')} }`,
    ...inbound.services.map((s) => `  use_backend ${s.backend} if { var(txn.upstream) -m str ${s.service} }`),
    '',
  );
  for (const s of inbound.services) {
    l.push(
      `backend ${s.backend}`,
      '  balance leastconn',
      `  timeout connect ${ms(s.connectTimeoutMs)}`,
      `  timeout server ${ms(s.timeoutMs)}`,
      `  timeout queue ${ms(s.queueTimeoutMs > 0 ? s.queueTimeoutMs : s.timeoutMs)}`,
      '  retries 1',
      '  retry-on conn-failure',
      '  option redispatch 1',
      ...(servers?.get(s.backend) ?? []).map(
        (v) => `  server ${v.name} ${v.address}:${String(v.port)} ${inboundServerParams(s)}`,
      ),
      '',
    );
  }
  return l;
}

/** A task server of an inbound backend: the service's per-task limit and ejection. */
export function inboundServerParams(s: InboundService): string {
  return [
    `maxconn ${String(s.maxConcurrency)}`,
    'maxqueue 1024',
    'check inter 2s',
    `downinter ${ms(s.ejectionTimeMs)}`,
    'rise 1 fall 3',
    'observe layer7',
    `error-limit ${String(s.consecutive5xx)}`,
    'on-error mark-down',
  ].join(' ');
}

/**
 * Another host's proxy in a caller's backend: over mutual TLS (this host's certificate, the cluster
 * CA, the peer's certificate must name that host), weighted by how many tasks it fronts; checked
 * (a TLS handshake) so a host whose proxy is gone is taken out. Ejection by 5xx is the inbound
 * side's, per task.
 */
export function peerServerParams(
  inbound: InboundLayout,
  cb: { maxConnections: number; maxPending: number },
  server: ProxyServer,
): string {
  return [
    `maxconn ${String(cb.maxConnections)}`,
    `maxqueue ${String(cb.maxPending)}`,
    `weight ${String(server.weight ?? 1)}`,
    'check inter 2s rise 1 fall 3',
    `ssl crt ${inbound.tls.crt} ca-file ${inbound.tls.caFile} verify required verifyhost ${server.peer ?? ''}`,
    // HTTP/2 between proxies: many requests share a few connections, so TLS handshakes stay rare
    // (over HTTP/1.1, 1,000 req/s on a loaded machine opened connections faster than it could
    // complete handshakes, and timed out in them).
    'alpn h2',
  ].join(' ');
}

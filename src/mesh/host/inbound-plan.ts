/**
 * The inbound side of a host's proxy (pure): one port, reached by other hosts' proxies over mutual
 * TLS (certificates from the cluster CA), with one backend per service some caller routes to. A
 * request names its caller and upstream in headers the calling proxy sets (`X-Dabba-Caller`,
 * `X-Dabba-Upstream`, overwriting whatever the task sent); the inbound side answers 403 when the
 * dependency file does not let that caller call that upstream, else applies the upstream's inbound
 * limits (per task `maxconn`, `timeout queue`) and forwards to one of its tasks on this host.
 */
import type { MeshConfig, UpstreamPolicy } from '../../model/index.ts';

/** The files the inbound side's TLS is made from (written by the agent from its credentials). */
export interface InboundTls {
  /** The host's certificate and key in one PEM file (HAProxy's `crt`). */
  crt: string;
  /** The cluster CA (HAProxy's `ca-file`): the only issuer the two sides trust. */
  caFile: string;
  /** A digest of their contents: a renewed certificate changes the structure (a reload). */
  digest: string;
}

export interface InboundService {
  service: string;
  backend: string;
  /** The callers the dependency file lets call it (`_ingress` when it is exposed). */
  callers: string[];
  maxConcurrency: number;
  queueTimeoutMs: number;
  /** The longest per-try timeout of its callers: the caller's own proxy cuts a try shorter. */
  timeoutMs: number;
  connectTimeoutMs: number;
  /** The strictest outlier detection its callers ask for (per task, on this host). */
  consecutive5xx: number;
  ejectionTimeMs: number;
}

export interface InboundLayout {
  port: number;
  tls: InboundTls;
  services: InboundService[];
}

export const INBOUND_BACKEND_PREFIX = 'be_in__';

/** The server name of another host's proxy in a caller's backend. */
export function peerName(host: string): string {
  return `peer_${host.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
}

interface RouteLike {
  caller: string;
  upstream: string;
  policy: UpstreamPolicy;
}

export function inboundLayout(
  config: MeshConfig,
  routes: readonly RouteLike[],
  port: number,
  tls: InboundTls,
): InboundLayout {
  const by = new Map<string, RouteLike[]>();
  for (const r of routes) by.set(r.upstream, [...(by.get(r.upstream) ?? []), r]);
  const services: InboundService[] = [];
  for (const [service, rs] of [...by.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const inbound = config.services[service]?.inbound ?? { maxConcurrency: 64, queueTimeoutMs: 100 };
    const ps = rs.map((r) => r.policy);
    services.push({
      service,
      backend: `${INBOUND_BACKEND_PREFIX}${service}`,
      callers: [...new Set(rs.map((r) => r.caller))].sort(),
      maxConcurrency: inbound.maxConcurrency,
      queueTimeoutMs: inbound.queueTimeoutMs,
      timeoutMs: Math.max(...ps.map((p) => Math.min(p.retries.perTryTimeoutMs, p.timeoutMs))),
      connectTimeoutMs: Math.max(...ps.map((p) => p.connectTimeoutMs)),
      consecutive5xx: Math.min(...ps.map((p) => p.outlierDetection.consecutive5xx)),
      ejectionTimeMs: Math.max(...ps.map((p) => p.outlierDetection.ejectionTimeMs)),
    });
  }
  return { port, tls, services };
}

/**
 * What one host's proxy should be (pure): from the dependency file and the services' endpoints,
 * its listeners (one port per caller and upstream, and one per caller that routes by Host header),
 * its backends with their policies (structure: the config file) and each backend's servers
 * (endpoints: the runtime API). Ports are numbered the same on every host, in name order.
 */
import type { MeshConfig, ServiceEndpoint, UpstreamPolicy } from '../../model/index.ts';
import { upstreamEnvName, validateMeshFile } from '../../model/index.ts';

/** The caller name of ingress routes (no service name starts with `_`). */
export const INGRESS = '_ingress';

/** The policy of ingress routes: every default of an upstream. */
function defaultPolicy(): UpstreamPolicy {
  const r = validateMeshFile({ services: { a: { upstreams: { b: null } } } });
  const p = r.ok ? r.config.services['a']?.upstreams['b'] : undefined;
  if (p === undefined) throw new Error('the default upstream policy does not validate');
  return p;
}

export interface MeshRoute {
  caller: string;
  upstream: string;
  /** The port on the host's mesh address that leads the caller to this upstream. */
  port: number;
  backend: string;
  policy: UpstreamPolicy;
  /** The upstream's inbound limits, applied per task by every caller's proxy. */
  maxConcurrency: number;
  queueTimeoutMs: number;
}

export interface MeshCaller {
  service: string;
  /** The port that routes by Host header to any of the caller's declared upstreams (403 otherwise). */
  port: number;
  upstreams: string[];
}

/** The structure of a host's proxy: what its config file says. */
export interface ProxyLayout {
  /** The address listeners bind (loopback for the process runtime, the bridge gateway for oci). */
  address: string;
  callers: MeshCaller[];
  routes: MeshRoute[];
}

export interface ProxyServer {
  /** The task id (a valid HAProxy server name). */
  name: string;
  address: string;
  port: number;
}

/** Caller ports from `base`, then one per (caller, upstream) pair. */
export function proxyLayout(config: MeshConfig, address: string, base: number): ProxyLayout {
  const callers: MeshCaller[] = [];
  const routes: MeshRoute[] = [];
  const names = Object.keys(config.services).sort();
  let port = base;
  for (const service of names) {
    const upstreams = Object.keys(config.services[service]?.upstreams ?? {}).sort();
    if (upstreams.length > 0) callers.push({ service, port: port++, upstreams });
  }
  for (const caller of callers) {
    for (const upstream of caller.upstreams) {
      const policy = config.services[caller.service]?.upstreams[upstream];
      if (policy === undefined) continue;
      const inbound = config.services[upstream]?.inbound ?? { maxConcurrency: 64, queueTimeoutMs: 100 };
      routes.push({
        caller: caller.service,
        upstream,
        port: port++,
        backend: backendName(caller.service, upstream),
        policy,
        maxConcurrency: inbound.maxConcurrency,
        queueTimeoutMs: inbound.queueTimeoutMs,
      });
    }
  }
  // Ingress: a service with `expose: PORT` is reached on that port of every host.
  for (const service of names) {
    const s = config.services[service];
    if (s?.expose === undefined) continue;
    routes.push({
      caller: INGRESS,
      upstream: service,
      port: s.expose,
      backend: backendName(INGRESS, service),
      policy: defaultPolicy(),
      maxConcurrency: s.inbound.maxConcurrency,
      queueTimeoutMs: s.inbound.queueTimeoutMs,
    });
  }
  return { address, callers, routes };
}

export function backendName(caller: string, upstream: string): string {
  return `be_${caller}__${upstream}`;
}

/** The port of an endpoint that callers reach: the one named `http`, else the first declared. */
export function endpointPort(e: ServiceEndpoint): number | undefined {
  return e.ports['http'] ?? Object.values(e.ports)[0];
}

/** Each backend's servers: the upstream's endpoints. */
export function proxyServers(
  layout: ProxyLayout,
  endpoints: Readonly<Record<string, readonly ServiceEndpoint[]>>,
): Map<string, ProxyServer[]> {
  const out = new Map<string, ProxyServer[]>();
  for (const r of layout.routes) {
    const servers: ProxyServer[] = [];
    for (const e of endpoints[r.upstream] ?? []) {
      const port = endpointPort(e);
      if (port !== undefined) servers.push({ name: e.task, address: e.address, port });
    }
    out.set(r.backend, servers);
  }
  return out;
}

/** What a task of `service` finds in its environment: DABBA_UPSTREAM_<NAME>=http://ADDR:PORT. */
export function upstreamEnv(layout: ProxyLayout, service: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const r of layout.routes) {
    if (r.caller === service) env[upstreamEnvName(r.upstream)] = `http://${layout.address}:${String(r.port)}`;
  }
  const caller = layout.callers.find((c) => c.service === service);
  if (caller !== undefined) env['DABBA_MESH'] = `http://${layout.address}:${String(caller.port)}`;
  return env;
}

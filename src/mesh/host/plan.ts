/**
 * What one host's proxy should be (pure): from the dependency file and the services' endpoints,
 * its listeners (one port per caller and upstream, and one per caller that routes by Host header),
 * its backends with their policies (structure: the config file) and each backend's servers
 * (endpoints: the runtime API). Ports are numbered the same on every host, in name order.
 */
import type { MeshConfig, ServiceEndpoint, UpstreamPolicy } from '../../model/index.ts';
import { validateMeshFile } from '../../model/files.ts';
import { upstreamEnvName } from '../../model/index.ts';
import { inboundLayout, peerName, type InboundLayout, type InboundTls } from './inbound-plan.ts';

export {
  INBOUND_BACKEND_PREFIX,
  type InboundLayout,
  type InboundService,
  type InboundTls,
} from './inbound-plan.ts';

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
  /** The host's mesh address: the inbound side and ingress bind it (other hosts and users reach it). */
  address: string;
  /**
   * Where the host's tasks reach the proxy: the callers' listeners bind it and the tasks'
   * DABBA_UPSTREAM_<NAME> name it (the host's address for the process runtime, the task bridge's
   * gateway for containers).
   */
  taskAddress: string;
  callers: MeshCaller[];
  routes: MeshRoute[];
  /** The inbound side (mTLS between hosts' proxies), when the host has a certificate. */
  inbound?: InboundLayout;
}

export interface ProxyServer {
  /** The task id, or `peer_<host>` for another host's proxy (a valid HAProxy server name). */
  name: string;
  address: string;
  port: number;
  /** For another host's proxy: that host's id (its certificate's CN, checked with verifyhost). */
  peer?: string;
  /** For another host's proxy: how many of the upstream's tasks it fronts. */
  weight?: number;
}

/**
 * How many ports from the base the callers' listeners may take (`base + 1` to `base + SPAN - 1`):
 * the task bridge's firewall lets containers reach these ports of their gateway, nothing else.
 */
export const TASK_PORT_SPAN = 1000;

/** The ports of the callers' listeners that tasks may reach, for a proxy whose ports start at `base`. */
export function taskPortRange(base: number): { from: number; to: number } {
  return { from: base + 1, to: base + TASK_PORT_SPAN - 1 };
}

/**
 * The inbound port is `base` (on every host); then caller ports, then one per (caller, upstream)
 * pair. With `tls` (the host's certificate and the cluster CA, as files) the proxy has an inbound
 * side on `base` that other hosts' proxies reach over mutual TLS. Callers' listeners bind
 * `taskAddress` (default: `address`), where the host's tasks reach the proxy.
 */
export function proxyLayout(
  config: MeshConfig,
  address: string,
  base: number,
  tls?: InboundTls,
  taskAddress: string = address,
): ProxyLayout {
  const callers: MeshCaller[] = [];
  const routes: MeshRoute[] = [];
  const names = Object.keys(config.services).sort();
  let port = base + 1;
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
  return {
    address,
    taskAddress,
    callers,
    routes,
    ...(tls === undefined ? {} : { inbound: inboundLayout(config, routes, base, tls) }),
  };
}

export function backendName(caller: string, upstream: string): string {
  return `be_${caller}__${upstream}`;
}

/** The port of an endpoint that callers reach: the one named `http`, else the first declared. */
export function endpointPort(e: ServiceEndpoint): number | undefined {
  return e.ports['http'] ?? Object.values(e.ports)[0];
}

/** Where this proxy is: its host, and the mesh address of every host (the inbound side's). */
export interface ProxyPlace {
  host: string;
  hosts: Readonly<Record<string, string>>;
}

/**
 * Each backend's servers. Without an inbound side (or `place`), a caller's backend lists the
 * upstream's endpoints themselves. With one, it lists the endpoints on this host directly and, per
 * other host running some, that host's proxy (`peer_<host>`, weighted by how many it fronts), which
 * applies the upstream's inbound limits; each inbound backend lists its service's endpoints here.
 */
export function proxyServers(
  layout: ProxyLayout,
  endpoints: Readonly<Record<string, readonly ServiceEndpoint[]>>,
  place?: ProxyPlace,
): Map<string, ProxyServer[]> {
  const out = new Map<string, ProxyServer[]>();
  const inbound = place === undefined ? undefined : layout.inbound;
  const direct = (e: ServiceEndpoint): ProxyServer[] => {
    const port = endpointPort(e);
    return port === undefined ? [] : [{ name: e.task, address: e.address, port }];
  };
  for (const r of layout.routes) {
    const servers: ProxyServer[] = [];
    const peers = new Map<string, ProxyServer>();
    for (const e of endpoints[r.upstream] ?? []) {
      const address = place?.hosts[e.host];
      if (inbound === undefined || e.host === place?.host || address === undefined) {
        servers.push(...direct(e));
        continue;
      }
      const peer = peers.get(e.host);
      if (peer !== undefined) peer.weight = (peer.weight ?? 1) + 1;
      else
        peers.set(e.host, { name: peerName(e.host), address, port: inbound.port, peer: e.host, weight: 1 });
    }
    out.set(r.backend, [...servers, ...[...peers.values()].sort((a, b) => a.name.localeCompare(b.name))]);
  }
  for (const s of inbound?.services ?? []) {
    const here = (endpoints[s.service] ?? []).filter((e) => e.host === place?.host);
    out.set(s.backend, here.flatMap(direct));
  }
  return out;
}

/** What a task of `service` finds in its environment: DABBA_UPSTREAM_<NAME>=http://ADDR:PORT. */
export function upstreamEnv(layout: ProxyLayout, service: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const r of layout.routes) {
    if (r.caller === service)
      env[upstreamEnvName(r.upstream)] = `http://${layout.taskAddress}:${String(r.port)}`;
  }
  const caller = layout.callers.find((c) => c.service === service);
  if (caller !== undefined) env['DABBA_MESH'] = `http://${layout.taskAddress}:${String(caller.port)}`;
  return env;
}

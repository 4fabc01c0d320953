/** The mesh's host side: the plan of a host's proxy, its HAProxy config, and its supervisor. */
export {
  INGRESS,
  backendName,
  endpointPort,
  proxyLayout,
  proxyServers,
  taskPortRange,
  TASK_PORT_SPAN,
  upstreamEnv,
  INBOUND_BACKEND_PREFIX,
  type InboundLayout,
  type InboundService,
  type InboundTls,
  type ProxyPlace,
  type MeshCaller,
  type MeshRoute,
  type ProxyLayout,
  type ProxyServer,
} from './plan.ts';
export { renderConfig, serverParams } from './render.ts';
export { ProxySupervisor, type ProxyOptions } from './proxy.ts';
export { runtimeCommand, serversState, type ServerState } from './runtime-api.ts';
export { MeshHost, type MeshHostOptions } from './mesh-host.ts';
export { AccessLogTail, type LogCounts } from './access-tail.ts';
export { meshSamples, parseShowStat, readProxyStats, type MeshSample } from './stats.ts';
export { CALLER_HEADER, INBOUND_FRONTEND, UPSTREAM_HEADER } from './render-inbound.ts';
export { writeInboundTls, type ProxyIdentity } from './inbound-tls.ts';

/**
 * The agent's own endpoint: the server proxies `dabba logs` and `dabba exec` here. With a host certificate it serves
 * HTTPS with it and answers only the control plane: a client certificate of the cluster CA with
 * O=dabba:servers (the server's), checked at the handshake. No input may crash or hang it: the
 * request target is parsed without throwing, bad percent-encoding is a 400, every error of a
 * handler becomes an answer, malformed requests get a connection-level 400, and slow or idle clients
 * are cut by the header and keep-alive timeouts.
 */
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import {
  decodePathSegment,
  handleAcceptErrors,
  parseRequestTarget,
  silentLogger,
  upgradeResponse,
  type Logger,
} from '../lib/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { fail, send } from './endpoint-respond.ts';
import { serveExec } from './exec-endpoint.ts';
import { serveExecUpgrade } from './exec-upgrade.ts';
import type { Duplex } from 'node:stream';
import { EXEC_UPGRADE_PROTOCOL, parseExecQuery } from '../model/index.ts';
import { streamLogs, type EndpointTask } from './logs-endpoint.ts';
import { serveHistory, type HistoryQuery } from './history-endpoint.ts';
import { serveMeshStats, type MeshStatsQuery } from './mesh-stats-endpoint.ts';

export type { EndpointTask } from './logs-endpoint.ts';
import type { HostCredentials } from './host-credentials.ts';

/** Subject organisation of the control plane's certificates (see src/auth/pki). */
const SERVERS_ORG = 'dabba:servers';
/** Subject organisation of host certificates: other hosts may read config distribution's routes. */
const HOSTS_ORG = 'dabba:hosts';

/** Config distribution's routes a child host reads from its parent (configdist/host/peer-endpoint.ts). */
export type PeerRoutes = (
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  query: URLSearchParams,
) => Promise<void> | undefined;

const isPeerPath = (p: string): boolean => p.startsWith('/v1/configdist/') || p.startsWith('/v1/configs/');

export interface AgentEndpoint {
  url: string;
  /** Serves a renewed certificate to new connections. */
  setCredentials(creds: HostCredentials): void;
  close(): Promise<void>;
}

function handle(
  runtime: Runtime,
  taskInfo: (id: string) => EndpointTask | undefined,
  tls: boolean,
  req: IncomingMessage,
  res: ServerResponse,
  history: HistoryQuery | undefined,
  meshStats: MeshStatsQuery | undefined,
  peer: PeerRoutes | undefined,
): Promise<void> | void {
  // Only exec reads a body; for the rest whatever a client sends is drained so it gets the answer.
  if (!(req.url ?? '').startsWith('/v1/exec/')) req.resume();
  const target = parseRequestTarget(req.url);
  if (!target) return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'the request target is not a path');
  if (target.pathname === '/v1/health') return send(res, 200, { ok: true });
  const forPeers = isPeerPath(target.pathname);
  if (tls) {
    const cert = req.socket instanceof TLSSocket ? req.socket.getPeerCertificate() : undefined;
    const org = cert?.subject?.O;
    if (org !== SERVERS_ORG && !(forPeers && org === HOSTS_ORG))
      return fail(res, 403, 'DABBA_E_FORBIDDEN', 'only the control plane may read from this endpoint');
  }
  if (forPeers) {
    const served = peer?.(req, res, target.pathname, target.query);
    return served ?? fail(res, 404, 'DABBA_E_NOT_FOUND', 'no such endpoint');
  }
  const ex = /^\/v1\/exec\/([^/]+)$/.exec(target.pathname);
  if (ex) {
    if (req.method !== 'POST')
      return fail(res, 405, 'DABBA_E_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here`);
    const task = decodePathSegment(ex[1] ?? '');
    if (task === undefined)
      return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'the task id is not valid percent-encoding');
    return serveExec(runtime, (t) => taskInfo(t) !== undefined, task, req, res);
  }
  if (target.pathname === '/v1/history') return serveHistory(history, req, target.query, res);
  if (target.pathname === '/v1/mesh/stats') return serveMeshStats(meshStats, req, res);
  const m = /^\/v1\/logs\/([^/]+)$/.exec(target.pathname);
  if (!m) return fail(res, 404, 'DABBA_E_NOT_FOUND', 'no such endpoint');
  if (req.method !== 'GET')
    return fail(res, 405, 'DABBA_E_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here`);
  const id = decodePathSegment(m[1] ?? '');
  if (id === undefined)
    return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'the task id is not valid percent-encoding');
  const task = taskInfo(id);
  if (!task) return fail(res, 404, 'DABBA_E_NOT_FOUND', `task ${JSON.stringify(id)} is not on this host`);
  return streamLogs(runtime, id, task, target.query, res);
}

/**
 * An upgrade request: only the interactive exec (`POST /v1/exec/TASK` with `Upgrade: dabba-exec`),
 * under the same rules as the other routes (the control plane's certificate over TLS).
 */
function handleUpgrade(
  runtime: Runtime,
  taskInfo: (id: string) => EndpointTask | undefined,
  tls: boolean,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> | void {
  const refuse = (status: number, code: string, message: string): void =>
    fail(upgradeResponse(req, socket), status, code, message);
  const target = parseRequestTarget(req.url);
  if (!target) return refuse(400, 'DABBA_E_BAD_REQUEST', 'the request target is not a path');
  if (tls) {
    const peer = socket instanceof TLSSocket ? socket.getPeerCertificate() : undefined;
    if (peer?.subject?.O !== SERVERS_ORG)
      return refuse(403, 'DABBA_E_FORBIDDEN', 'only the control plane may read from this endpoint');
  }
  const ex = /^\/v1\/exec\/([^/]+)$/.exec(target.pathname);
  if (!ex || (req.headers.upgrade ?? '').toLowerCase() !== EXEC_UPGRADE_PROTOCOL)
    return refuse(
      400,
      'DABBA_E_BAD_REQUEST',
      `only POST /v1/exec/TASK upgrades (to ${EXEC_UPGRADE_PROTOCOL})`,
    );
  if (req.method !== 'POST')
    return refuse(405, 'DABBA_E_METHOD_NOT_ALLOWED', `${req.method ?? ''} is not allowed here`);
  const task = decodePathSegment(ex[1] ?? '');
  if (task === undefined)
    return refuse(400, 'DABBA_E_BAD_REQUEST', 'the task id is not valid percent-encoding');
  const spec = parseExecQuery(target.query);
  if (typeof spec === 'string') return refuse(400, 'DABBA_E_BAD_REQUEST', spec);
  if (taskInfo(task) === undefined)
    return refuse(404, 'DABBA_E_NOT_FOUND', `task "${task}" is not on this host`);
  return serveExecUpgrade(runtime, task, spec, req, socket, head);
}

export async function startEndpoint(
  runtime: Runtime,
  taskInfo: (id: string) => EndpointTask | undefined,
  host: string,
  port: number,
  creds?: HostCredentials,
  logger: Logger = silentLogger,
  history?: HistoryQuery,
  meshStats?: MeshStatsQuery,
  peer?: PeerRoutes,
): Promise<AgentEndpoint> {
  const listener: RequestListener = (req, res) => {
    try {
      const p = handle(runtime, taskInfo, creds !== undefined, req, res, history, meshStats, peer);
      if (p) p.catch(() => fail(res, 500, 'DABBA_E_INTERNAL', 'internal error'));
    } catch {
      fail(res, 500, 'DABBA_E_INTERNAL', 'internal error');
    }
  };
  const options = { headersTimeout: 30_000, requestTimeout: 0 };
  const tlsServer: HttpsServer | undefined =
    creds === undefined
      ? undefined
      : createHttpsServer(
          {
            ...options,
            cert: creds.certPem,
            key: creds.keyPem,
            ca: creds.caPem,
            requestCert: true,
            rejectUnauthorized: true,
            minVersion: 'TLSv1.2',
          },
          listener,
        );
  const server: Server = tlsServer ?? createServer(options, listener);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const tls = creds !== undefined;
    try {
      const p = handleUpgrade(runtime, taskInfo, tls, req, socket, head);
      if (p) p.catch(() => socket.destroy());
    } catch {
      socket.destroy();
    }
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy(err);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  handleAcceptErrors(server, logger, 'agent endpoint');
  const addr = server.address() as AddressInfo;
  return {
    url: `${creds ? 'https' : 'http'}://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    setCredentials(c) {
      tlsServer?.setSecureContext({ cert: c.certPem, key: c.keyPem, ca: c.caPem });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

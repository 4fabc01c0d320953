import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { DabbaError, isStorageError } from '../errors/index.ts';
import { parseRequestTarget, upgradeResponse, type Logger } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import type { PeerCredential } from './images/peer-source.ts';
import type { SharedImages } from './images/shared-images.ts';
import type { Store } from '../store/index.ts';
import type { Duplex } from 'node:stream';
import { Router, type RouteContext } from './http/router.ts';
import {
  ANONYMOUS,
  UNRESTRICTED,
  authenticate,
  authorize,
  permissionFor,
  routeKey,
  shouldAudit,
  unauthenticated,
  type AuditLog,
  type Authenticator,
  type Principal,
  type TokenCache,
} from '../auth/index.ts';
import { authRoutes } from './routes/auth.ts';
import { sendJson, toErrorBody } from './http/respond.ts';
import { ALPN_PROTOCOLS, offerHttp2 } from './http/http2.ts';
import { eventRoutes } from './routes/events.ts';
import { hostRoutes } from './routes/hosts.ts';
import { poolRoutes } from './routes/pools.ts';
import { imageRoutes } from './routes/images.ts';
import { imageRemoveRoutes } from './routes/image-remove.ts';
import { jobRoutes } from './routes/jobs.ts';
import { logRoutes } from './routes/logs.ts';
import { hostHistoryRoutes } from './routes/host-history.ts';
import { serverRoutes, type ServersSource } from './routes/servers.ts';
import { watchRoutes } from './routes/watch.ts';
import { versionRoutes } from './routes/version.ts';
import { jobVerbRoutes } from './routes/job-verbs.ts';
import { execRoutes } from './routes/exec.ts';
import { uiRoutes } from './routes/ui.ts';
import { serviceRoutes } from './routes/services.ts';
import { meshRoutes } from './routes/mesh.ts';
import { meshStatsRoutes } from './routes/mesh-stats.ts';
import { configRoutes } from './routes/configs.ts';
import { boardRoutes } from './routes/boards.ts';
import { configDistRoutes } from './routes/configdist.ts';
import type { ConfigStore, Distributor } from '../configdist/server/index.ts';
import type { EventLog } from './state/events.ts';
import type { HostLiveness } from './state/hosts.ts';
import type { HostView, TaskNetwork } from '../model/index.ts';
import type { ServerPki } from './pki.ts';
import { certificateRoutes } from './routes/certificates.ts';
import { tableRoutes } from './routes/tables.ts';
import type { LogTables } from '../telemetry/logtables/index.ts';
import { faultCounts, type StorageHooks } from './storage/index.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { remediationRoutes } from './routes/remediation.ts';
import { hostCommandRoutes } from './routes/host-commands.ts';
import type { TelemetryService } from '../telemetry/server/index.ts';
import type { ServedMetrics } from './routes/metrics.ts';

export interface ApiOptions {
  store: Store;
  storeName: string;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  liveness: HostLiveness;
  /** The task network hosts get their ranges from (default 10.88.0.0/16 in /24s). */
  taskNetwork?: TaskNetwork;
  version: string;
  /** The server's image store; without one the image endpoints answer 404. */
  images?: SharedImages;
  /** This replica's credential towards its peers (metrics copies of certificate-authenticated agents). */
  peerCredential?: PeerCredential;
  /** The versioned config store (`/v1/configs`). */
  configs?: ConfigStore;
  /** The config distributor (`/v1/configdist/...`): trees of subscribed hosts per config shard. */
  distributor?: Distributor;
  /** The control-plane replicas (`GET /v1/servers`). */
  servers?: ServersSource;
  /** The cluster CA and this replica's certificate; with `pki.tls` the API serves HTTPS. */
  pki?: ServerPki;
  /** Storage faults: health, refusing new things below the watermark, 507 for a lack of space. */
  storage?: StorageHooks;
  /**
   * The hosts' states and runtimes as this replica's scheduler cache holds them, once it is loaded
   * (undefined before): what a deploy's runnability check reads instead of every host and
   * assignment in the store.
   */
  cachedHosts?: () => readonly Pick<HostView, 'state' | 'runtime'>[] | undefined;
  /**
   * A job's view (`GET /v1/jobs/NAME`) as JSON text from the scheduler cache, when it holds every
   * write the store has committed (undefined otherwise: the store is read).
   */
  cachedJobJson?: (id: string) => string | undefined;
  /** The web UI's built files (web/dist), served at /ui/; absent: /ui/ answers 404. */
  uiDir?: string;
  /**
   * Authentication: who may call what (src/auth). Absent: every request acts as an admin — only for
   * measuring what authentication costs (bench/api-auth.ts), never a default.
   */
  auth?: ApiAuth;
  /** The time-series store (`/v1/metrics/...`, `/federate`); without one those answer 503. */
  telemetry?: TelemetryService;
  /** The control plane's own counters (`GET /metrics`); requests are counted and timed into it. */
  metrics?: ServedMetrics;
  /** Log tables (`/v1/tables/...`); without them those endpoints answer 404. */
  logTables?: LogTables;
}

export interface ApiAuth {
  /** Tried in order; the first that finds credentials it knows decides. */
  authenticators: readonly Authenticator[];
  tokens: TokenCache;
  audit: AuditLog;
}

export function buildRouter(o: ApiOptions): Router {
  const router = new Router();
  router.on('GET', '/v1/health', async () => ({
    ok: true,
    ...(o.storage?.health() ?? { status: 'ok', reasons: [] }),
    revision: await o.store.revision(),
    store: o.storeName,
    version: o.version,
    faults: faultCounts(),
  }));
  eventRoutes(router, o.store, o.events);
  jobRoutes(router, o.store, o.clock, o.events, o.images, { hosts: o.cachedHosts, jobJson: o.cachedJobJson });
  hostRoutes(router, o.store, o.clock, o.liveness, o.events, o.taskNetwork);
  poolRoutes(router, o.store);
  logRoutes(router, o.store, o.pki);
  hostHistoryRoutes(router, o.store, o.clock, o.pki);
  if (o.pki) certificateRoutes(router, o.store, o.pki, o.events);
  versionRoutes(router, o.store, o.storeName, o.version);
  jobVerbRoutes(router, o.store, o.clock, o.events);
  execRoutes(router, o.store, o.pki);
  watchRoutes(router, o.store);
  serviceRoutes(router, o.store);
  meshRoutes(router, o.store, o.clock, o.events);
  remediationRoutes(router, o.store, o.clock, o.events);
  hostCommandRoutes(router, o.store, o.clock);
  meshStatsRoutes(router, o.store, o.pki);
  if (o.images) imageRoutes(router, o.images, o.events);
  if (o.images) imageRemoveRoutes(router, o.store, o.images, o.events);
  if (o.configs) configRoutes(router, o.configs, o.distributor);
  if (o.distributor && o.configs) configDistRoutes(router, o.distributor, o.configs);
  if (o.servers) serverRoutes(router, o.servers);
  metricsRoutes(
    router,
    o.telemetry,
    o.metrics,
    o.servers === undefined
      ? undefined
      : {
          servers: o.servers,
          logger: o.logger,
          store: o.store,
          ...(o.peerCredential ? { credential: o.peerCredential } : {}),
          ...(o.pki?.tls === true ? { caPem: o.pki.ca.certPem } : {}),
        },
  );
  boardRoutes(router, o.store, o.clock);
  if (o.logTables) tableRoutes(router, o.logTables, o.store, o.logger);
  uiRoutes(router, o.uiDir);
  authRoutes(router, {
    store: o.store,
    clock: o.clock,
    ...(o.auth ? { tokens: o.auth.tokens, audit: o.auth.audit } : {}),
    ...(o.pki ? { pki: o.pki } : {}),
  });
  // Every route must be in the authorization table: a route without an entry is a bug, not a
  // route open to everyone.
  const missing = router.routes().filter((r) => permissionFor(r.method, r.pattern) === undefined);
  if (missing.length > 0) {
    throw new DabbaError(
      'DABBA_E_INTERNAL',
      `routes without an entry in the authorization table: ${missing.map((r) => routeKey(r.method, r.pattern)).join(', ')}`,
    );
  }
  return router;
}

/** Authenticates and authorizes a matched request: the principal and the namespace it may use. */
async function admit(
  o: ApiOptions,
  req: IncomingMessage,
  method: string,
  pattern: string,
  params: Record<string, string>,
  query: URLSearchParams,
  seen: { principal: Principal },
): Promise<{ principal: Principal; namespace: string }> {
  const permission = permissionFor(method, pattern) ?? 'admin';
  let principal: Principal = UNRESTRICTED;
  if (o.auth !== undefined && permission !== 'open') {
    const outcome = await authenticate(o.auth.authenticators, req);
    if (!outcome.ok) throw unauthenticated(outcome.failure);
    principal = outcome.principal;
  } else if (o.auth !== undefined) principal = ANONYMOUS;
  seen.principal = principal;
  const access = authorize(principal, permission, {
    namespace: query.get('namespace'),
    params,
    prefix: query.get('prefix'),
  });
  return { principal, namespace: access.namespace };
}

function auditOnClose(
  o: ApiOptions,
  req: IncomingMessage,
  res: ServerResponse,
  route: {
    method: string;
    pattern: string;
    path: string;
    params: Record<string, string>;
    query: URLSearchParams;
  },
  seen: { principal: Principal },
): void {
  const audit = o.auth?.audit;
  if (audit === undefined) return;
  const key = routeKey(route.method, route.pattern);
  res.once('close', () => {
    if (!shouldAudit(route.method, key, seen.principal)) return;
    const object = route.params['name'] ?? route.params['id'] ?? route.params['ref'] ?? null;
    void audit.record(seen.principal, {
      method: route.method,
      route: key,
      path: route.path,
      namespace: route.query.get('namespace') ?? (route.pattern.startsWith('/v1/jobs') ? 'default' : null),
      object,
      remote: req.socket.remoteAddress ?? null,
      status: res.statusCode,
    });
  });
}

/**
 * A request refused before its body was read: answer, then discard what the client still sends for
 * a bounded time, so that it reads our answer instead of a connection reset; then close.
 */
function lingeringClose(req: IncomingMessage, _res: ServerResponse): void {
  req.resume();
  const timer = setTimeout(() => req.destroy(), 5000);
  timer.unref();
  req.once('end', () => clearTimeout(timer));
}

/**
 * Why a request's signal aborts: one shared reason, since `abort()` without one builds a
 * DOMException (with its stack) per request, a measurable share of the server's CPU at a thousand
 * heartbeats a second (and 1.3% of the API thread in the scale benchmark). Only `aborted` and the
 * error's name are ever looked at.
 */
const REQUEST_ENDED = new DOMException('the request ended or the server is stopping', 'AbortError');

/**
 * The API server: HTTPS with the replica's certificate when `o.pki.tls`, else plain HTTP. Over TLS a
 * client may present a certificate (host agents do; token clients need not): it is checked against
 * the cluster CA only, and `hostIdentityFromRequest` reads the result. Never crashes on bad input:
 * every error becomes a JSON answer.
 */
export function createApiServer(o: ApiOptions, shutdown: AbortSignal): Server & { router: Router } {
  const router = buildRouter(o);
  // The requests in progress, aborted together at shutdown. A Set, not one 'abort' listener per
  // request on `shutdown`: EventTarget scans its listeners on every add, so with tens of thousands
  // of held streams (config subscribers over HTTP/2) each new request cost a scan of them all.
  const open = new Set<() => void>();
  shutdown.addEventListener('abort', () => {
    for (const abort of open) abort();
  });
  // Requests and upgrades (interactive exec) take the same path: admission, routing, errors.
  const serve = (req: IncomingMessage, res: ServerResponse, upgrade?: RouteContext['upgrade']): void => {
    const controller = new AbortController();
    const abort = (): void => controller.abort(REQUEST_ENDED);
    open.add(abort);
    // A request target that is not a path (an absolute URL with a bad port...) must not throw here:
    // an exception in this listener would take the whole server down.
    const url = parseRequestTarget(req.url) ?? { pathname: '', query: new URLSearchParams() };
    const timing =
      o.metrics === undefined || upgrade ? undefined : { at: performance.now(), route: 'unmatched' };
    // One close listener for all of the request's own work: a streamed answer (`pipeline` into the
    // response) adds seven of Node's own, and more than ten on one response draws a
    // MaxListenersExceededWarning.
    res.once('close', () => {
      controller.abort(REQUEST_ENDED);
      open.delete(abort);
      if (timing !== undefined)
        o.metrics!.registry.request(timing.route, res.statusCode, (performance.now() - timing.at) / 1000);
    });
    void (async () => {
      try {
        if (url.pathname === '')
          throw new DabbaError('DABBA_E_BAD_REQUEST', 'the request target is not a path (/v1/...)');
        const method = req.method ?? 'GET';
        const route = router.match(method, url.pathname);
        if (upgrade && !route.upgrade)
          throw new DabbaError('DABBA_E_BAD_REQUEST', `${url.pathname} does not take an Upgrade request`);
        const { params, pattern } = route;
        if (timing !== undefined) timing.route = routeKey(method, pattern);
        const seen: { principal: Principal } = { principal: ANONYMOUS };
        auditOnClose(o, req, res, { method, pattern, path: url.pathname, params, query: url.query }, seen);
        const { principal, namespace } = await admit(o, req, method, pattern, params, url.query, seen);
        o.storage?.admit(method, url.pathname);
        const result = await route.handler({
          req,
          res,
          params: route.params,
          query: url.query,
          signal: controller.signal,
          principal,
          namespace,
          ...(upgrade ? { upgrade } : {}),
        });
        if (result !== undefined && !res.headersSent) sendJson(res, route.status, result);
      } catch (thrown) {
        const e = o.storage ? o.storage.failed(thrown) : thrown;
        const { status, body } = toErrorBody(e);
        // Storage faults are said once by the storage guard, not per request; a client that went
        // away (a Ctrl-C'd `dabba logs -f`) is no server error.
        if (status >= 500 && !isStorageError(e) && !controller.signal.aborted)
          o.logger.error({ err: e, method: req.method, path: url.pathname }, 'request failed');
        else o.logger.debug({ code: body.code, method: req.method, path: url.pathname }, 'request refused');
        try {
          if (res.headersSent) {
            res.end();
            return;
          }
          if (!req.complete && !upgrade) lingeringClose(req, res);
          sendJson(res, status, body);
        } catch {
          res.destroy();
        }
      }
    })();
  };
  const listener: RequestListener = (req, res) => serve(req, res);
  const options = { requestTimeout: 0, headersTimeout: 30_000 };
  const server: Server = o.pki?.tls
    ? createHttpsServer(
        {
          ...options,
          cert: o.pki.identity.certPem,
          key: o.pki.identity.keyPem,
          // Client certificates are verified against the cluster CA alone (not the system's CAs);
          // one that fails leaves the request unauthenticated by certificate instead of refused.
          ca: o.pki.ca.certPem,
          requestCert: true,
          rejectUnauthorized: false,
          minVersion: 'TLSv1.2',
          // HTTP/2 for the clients that offer it (many held streams on one connection), else HTTP/1.1.
          ALPNProtocols: ALPN_PROTOCOLS,
        },
        listener,
      )
    : createServer(options, listener);
  if (o.pki?.tls) offerHttp2(server as HttpsServer, listener);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    serve(req, upgradeResponse(req, socket), { socket, head });
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy(err);
  });
  return Object.assign(server, { router });
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Store } from '../store/index.ts';
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
import { DabbaError } from '../errors/index.ts';
import { Router } from './http/router.ts';
import { authRoutes } from './routes/auth.ts';
import { sendJson, toErrorBody } from './http/respond.ts';
import { hostRoutes } from './routes/hosts.ts';
import { imageRoutes } from './routes/images.ts';
import { jobRoutes } from './routes/jobs.ts';
import { logRoutes } from './routes/logs.ts';
import { serverRoutes, type ServersSource } from './routes/servers.ts';
import { watchRoutes } from './routes/watch.ts';
import type { EventLog } from './state/events.ts';
import type { HostLiveness } from './state/hosts.ts';
import { ALL_NAMESPACES, jobId, type TaskNetwork } from '../model/index.ts';

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
  images?: ImageStore;
  /** The control-plane replicas (`GET /v1/servers`). */
  servers?: ServersSource;
  /**
   * Authentication: who may call what (src/auth). Absent: every request acts as an admin — only for
   * measuring what authentication costs (bench/api-auth.ts), never a default.
   */
  auth?: ApiAuth;
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
    revision: await o.store.revision(),
    store: o.storeName,
    version: o.version,
  }));
  // Events of the request's namespace's jobs, and the cluster's (hosts, images) that name no job.
  router.on('GET', '/v1/events', async ({ query, namespace }) => {
    const limit = Number(query.get('limit') ?? 100);
    const job = query.get('job');
    return o.events.list({
      limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 5000) : 100,
      namespace,
      ...(job === null ? {} : { job: namespace === ALL_NAMESPACES ? job : jobId(namespace, job) }),
    });
  });
  jobRoutes(router, o.store, o.clock, o.events);
  hostRoutes(router, o.store, o.clock, o.liveness, o.events, o.taskNetwork);
  logRoutes(router, o.store);
  watchRoutes(router, o.store);
  if (o.images) imageRoutes(router, o.images, o.events);
  if (o.servers) serverRoutes(router, o.servers);
  authRoutes(router, {
    store: o.store,
    clock: o.clock,
    ...(o.auth ? { tokens: o.auth.tokens, audit: o.auth.audit } : {}),
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

/** The HTTP API server. Never crashes on bad input: every error becomes a JSON answer. */
export function createApiServer(o: ApiOptions, shutdown: AbortSignal): Server & { router: Router } {
  const router = buildRouter(o);
  const server = createServer({ requestTimeout: 0, headersTimeout: 30_000 }, (req, res) => {
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    res.on('close', abort);
    shutdown.addEventListener('abort', abort, { once: true });
    res.on('close', () => shutdown.removeEventListener('abort', abort));
    const url = new URL(req.url ?? '/', 'http://localhost');
    void (async () => {
      try {
        const method = req.method ?? 'GET';
        const { handler, params, status, pattern } = router.match(method, url.pathname);
        const seen: { principal: Principal } = { principal: ANONYMOUS };
        auditOnClose(
          o,
          req,
          res,
          { method, pattern, path: url.pathname, params, query: url.searchParams },
          seen,
        );
        const { principal, namespace } = await admit(o, req, method, pattern, params, url.searchParams, seen);
        const result = await handler({
          req,
          res,
          params,
          query: url.searchParams,
          signal: controller.signal,
          principal,
          namespace,
        });
        if (result !== undefined && !res.headersSent) sendJson(res, status, result);
      } catch (e) {
        const { status, body } = toErrorBody(e);
        if (status >= 500)
          o.logger.error({ err: e, method: req.method, path: url.pathname }, 'request failed');
        else o.logger.debug({ code: body.code, method: req.method, path: url.pathname }, 'request refused');
        if (res.headersSent) {
          res.end();
          return;
        }
        if (!req.complete) lingeringClose(req, res);
        sendJson(res, status, body);
      }
    })();
  });
  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy(err);
  });
  return Object.assign(server, { router });
}

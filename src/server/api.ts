import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../lib/index.ts';
import type { Clock } from '../lib/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Store } from '../store/index.ts';
import { Router } from './http/router.ts';
import { sendJson, toErrorBody } from './http/respond.ts';
import { eventRoutes } from './routes/events.ts';
import { hostRoutes } from './routes/hosts.ts';
import { imageRoutes } from './routes/images.ts';
import { jobRoutes } from './routes/jobs.ts';
import { logRoutes } from './routes/logs.ts';
import { serverRoutes, type ServersSource } from './routes/servers.ts';
import { watchRoutes } from './routes/watch.ts';
import type { EventLog } from './state/events.ts';
import type { HostLiveness } from './state/hosts.ts';
import type { TaskNetwork } from '../model/index.ts';

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
}

export function buildRouter(o: ApiOptions): Router {
  const router = new Router();
  router.on('GET', '/v1/health', async () => ({
    ok: true,
    revision: await o.store.revision(),
    store: o.storeName,
    version: o.version,
  }));
  eventRoutes(router, o.store, o.events);
  jobRoutes(router, o.store, o.clock, o.events);
  hostRoutes(router, o.store, o.clock, o.liveness, o.events, o.taskNetwork);
  logRoutes(router, o.store);
  watchRoutes(router, o.store);
  if (o.images) imageRoutes(router, o.images, o.events);
  if (o.servers) serverRoutes(router, o.servers);
  return router;
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
export function createApiServer(o: ApiOptions, shutdown: AbortSignal): Server {
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
        const { handler, params, status } = router.match(req.method ?? 'GET', url.pathname);
        const result = await handler({
          req,
          res,
          params,
          query: url.searchParams,
          signal: controller.signal,
        });
        if (result !== undefined && !res.headersSent) sendJson(res, status, result);
      } catch (e) {
        const { status, body } = toErrorBody(e);
        // A client that went away (a Ctrl-C'd `dabba logs -f`) is no server error.
        if (status >= 500 && !controller.signal.aborted)
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
  return server;
}

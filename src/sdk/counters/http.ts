/**
 * Serving a registry over HTTP: `GET /metrics` (Prometheus text, or OpenMetrics / JSON by Accept,
 * or `?format=openmetrics|prometheus|json`) and `GET /counters` (the flat JSON map, FB303's
 * getCounters). Mount the handler in a service's own server, or start a server of its own.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { negotiate, render, type ExpositionFormat } from './exposition.ts';
import type { CounterRegistry } from './registry.ts';

export interface HandlerOptions {
  /** Path of the text formats (default /metrics). */
  metricsPath?: string;
  /** Path of the JSON map (default /counters). */
  countersPath?: string;
}

const FORMATS: readonly ExpositionFormat[] = ['openmetrics', 'prometheus', 'json'];

/**
 * Returns a request handler that answers the metrics paths and returns true, or returns false
 * (and leaves the response alone) for any other request.
 */
export function metricsHandler(
  registry: CounterRegistry,
  options: HandlerOptions = {},
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const metricsPath = options.metricsPath ?? '/metrics';
  const countersPath = options.countersPath ?? '/counters';
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== metricsPath && url.pathname !== countersPath) return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('method not allowed\n');
      return true;
    }
    const asked = url.searchParams.get('format');
    const format: ExpositionFormat =
      url.pathname === countersPath
        ? 'json'
        : asked !== null && (FORMATS as readonly string[]).includes(asked)
          ? (asked as ExpositionFormat)
          : negotiate(req.headers.accept);
    const { body, contentType } = render(registry, format);
    res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return true;
  };
}

/** Starts a server answering only the metrics paths (404 elsewhere) on `port` (0: any). */
export async function serveMetrics(
  registry: CounterRegistry,
  options: HandlerOptions & { port?: number; host?: string } = {},
): Promise<Server> {
  const handle = metricsHandler(registry, options);
  const server = createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

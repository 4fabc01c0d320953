/** The agent's own HTTP endpoint: the server proxies `dabba logs` here. */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isDabbaError } from '../errors/index.ts';
import { LOG_INSTANCE_HEADER, type LastExit, type LogInstance } from '../model/index.ts';
import type { LogLine, Runtime } from '../runtime/index.ts';

export interface AgentEndpoint {
  url: string;
  close(): Promise<void>;
}

/** What the endpoint needs to know of a task on this host (undefined: not here). */
export interface EndpointTask {
  /** Its last run is over and was removed to start again: the log to show is the previous one. */
  betweenRuns: boolean;
  /** How its previous run ended, if it had one. */
  lastExit?: LastExit;
}

function isNotFound(e: unknown): boolean {
  return isDabbaError(e) && e.details['reason'] === 'NotFound';
}

/** Until the client has read what was written, or is gone (a gone client never drains). */
function drained(res: ServerResponse): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
    if (res.destroyed) done();
  });
}

export async function startEndpoint(
  runtime: Runtime,
  taskInfo: (id: string) => EndpointTask | undefined,
  host: string,
  port: number,
): Promise<AgentEndpoint> {
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = /^\/v1\/logs\/([^/]+)$/.exec(url.pathname);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/v1/health') return send(200, { ok: true });
    if (!m || req.method !== 'GET')
      return send(404, { code: 'DABBA_E_NOT_FOUND', message: 'no such endpoint', details: {} });
    const id = decodeURIComponent(m[1] ?? '');
    const task = taskInfo(id);
    if (!task)
      return send(404, {
        code: 'DABBA_E_NOT_FOUND',
        message: `task "${id}" is not on this host`,
        details: {},
      });
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const tail = url.searchParams.get('tail');
    const requested = url.searchParams.get('previous') === '1';
    // The previous run's log when asked for, or when the task waits to start again (its current
    // run is gone): a crash loop's output is there exactly when it is needed.
    const previous = requested || task.betweenRuns;
    const follow = url.searchParams.get('follow') === '1' && !previous;
    void (async () => {
      const opts = {
        follow,
        signal: controller.signal,
        ...(previous ? { previous: true } : {}),
        ...(tail !== null && /^\d+$/.test(tail) ? { tail: Number(tail) } : {}),
      };
      const lines = runtime.logs(id, opts)[Symbol.asyncIterator]();
      // The first line (or the end) before the answer: a previous run that is not there is a 404.
      let first: IteratorResult<LogLine> | undefined;
      if (previous) {
        try {
          first = await lines.next();
        } catch (e) {
          if (requested || !isNotFound(e)) {
            return send(404, {
              code: 'DABBA_E_NOT_FOUND',
              message: `task ${id} has no previous run on this host`,
              details: {},
            });
          }
          first = { done: true, value: undefined };
        }
      }
      const instance: LogInstance | undefined = previous
        ? { instance: 'previous', requested, ...(task.lastExit ? { exit: task.lastExit } : {}) }
        : undefined;
      res.writeHead(200, {
        'content-type': 'application/x-ndjson',
        ...(instance ? { [LOG_INSTANCE_HEADER]: JSON.stringify(instance) } : {}),
      });
      try {
        for (let r = first ?? (await lines.next()); r.done !== true; r = await lines.next()) {
          if (res.destroyed) break;
          if (!res.write(`${JSON.stringify(r.value)}\n`)) await drained(res);
        }
      } catch {
        // the task was removed meanwhile, or the client went away: the stream just ends
      }
      res.end();
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

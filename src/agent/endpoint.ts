/** The agent's own HTTP endpoint: the server proxies `dabba logs` and `dabba exec` here. */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Runtime } from '../runtime/index.ts';
import { serveExec } from './exec-endpoint.ts';

export interface AgentEndpoint {
  url: string;
  close(): Promise<void>;
}

export async function startEndpoint(
  runtime: Runtime,
  hasTask: (id: string) => boolean,
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
    const ex = /^\/v1\/exec\/([^/]+)$/.exec(url.pathname);
    if (ex && req.method === 'POST')
      return serveExec(runtime, hasTask, decodeURIComponent(ex[1] ?? ''), req, res);
    if (!m || req.method !== 'GET')
      return send(404, { code: 'DABBA_E_NOT_FOUND', message: 'no such endpoint', details: {} });
    const id = decodeURIComponent(m[1] ?? '');
    if (!hasTask(id))
      return send(404, {
        code: 'DABBA_E_NOT_FOUND',
        message: `task "${id}" is not on this host`,
        details: {},
      });
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    const tail = url.searchParams.get('tail');
    const follow = url.searchParams.get('follow') === '1';
    void (async () => {
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      try {
        const opts = {
          follow,
          signal: controller.signal,
          ...(tail !== null && /^\d+$/.test(tail) ? { tail: Number(tail) } : {}),
        };
        for await (const line of runtime.logs(id, opts)) {
          if (!res.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => res.once('drain', r));
        }
      } catch {
        // task removed or client gone
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

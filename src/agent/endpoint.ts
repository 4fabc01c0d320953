/**
 * The agent's own endpoint: the server proxies `dabba logs` here. With a host certificate it serves
 * HTTPS with it and answers only the control plane: a client certificate of the cluster CA with
 * O=dabba:servers (the server's), checked at the handshake.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Runtime } from '../runtime/index.ts';
import type { HostCredentials } from './host-credentials.ts';

/** Subject organisation of the control plane's certificates (see src/auth/pki). */
const SERVERS_ORG = 'dabba:servers';

export interface AgentEndpoint {
  url: string;
  /** Serves a renewed certificate to new connections. */
  setCredentials(creds: HostCredentials): void;
  close(): Promise<void>;
}

export async function startEndpoint(
  runtime: Runtime,
  hasTask: (id: string) => boolean,
  host: string,
  port: number,
  creds?: HostCredentials,
): Promise<AgentEndpoint> {
  const listener: RequestListener = (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const m = /^\/v1\/logs\/([^/]+)$/.exec(url.pathname);
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/v1/health') return send(200, { ok: true });
    if (creds !== undefined) {
      const peer = req.socket instanceof TLSSocket ? req.socket.getPeerCertificate() : undefined;
      if (peer?.subject?.O !== SERVERS_ORG)
        return send(403, { code: 'DABBA_E_FORBIDDEN', message: 'only the control plane', details: {} });
    }
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
  };
  const tlsServer: HttpsServer | undefined =
    creds === undefined
      ? undefined
      : createHttpsServer(
          {
            cert: creds.certPem,
            key: creds.keyPem,
            ca: creds.caPem,
            requestCert: true,
            rejectUnauthorized: true,
            minVersion: 'TLSv1.2',
          },
          listener,
        );
  const server: Server = tlsServer ?? createServer(listener);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
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

/**
 * HTTP/2 on a real TLS listener on loopback: a connection left with no open stream is closed once it
 * has been quiet for the idle time; one that holds a stream stays open however quiet, and is closed
 * after its last stream ends.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type ClientHttp2Session } from 'node:http2';
import { createServer, type Server } from 'node:https';
import { connect as connectTcp, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { createClusterCa, issueServerCertificate, openClusterCa } from '../../auth/index.ts';
import { closeHttp } from '../start/listen.ts';
import { ALPN_PROTOCOLS, offerHttp2 } from './http2.ts';

const IDLE_MS = 300;

/** An HTTPS server with HTTP/2 offered (`/hold` holds its stream open, as a watch does). */
async function h2Server(): Promise<{ server: Server; url: string }> {
  const made = await createClusterCa();
  const ca = openClusterCa(made.certPem, made.keyPem);
  const cert = await issueServerCertificate(ca, { names: [] });
  const server = createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ALPN_PROTOCOLS });
  offerHttp2(
    server,
    (req, res) => {
      if (req.url === '/hold') res.writeHead(200).write('held\n');
      else res.end('ok');
    },
    { idleSessionMs: IDLE_MS },
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

describe('HTTP/2 idle connections', () => {
  let server: Server;
  let url: string;
  const sessions: ClientHttp2Session[] = [];

  before(async () => {
    ({ server, url } = await h2Server());
  });

  after(async () => {
    for (const s of sessions) s.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const open = async (): Promise<ClientHttp2Session> => {
    const s = connect(url, { rejectUnauthorized: false });
    s.on('error', () => undefined);
    sessions.push(s);
    await once(s, 'connect');
    assert.equal(s.alpnProtocol, 'h2');
    return s;
  };

  const get = (s: ClientHttp2Session, path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = s.request({ ':path': path });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => (body += c));
      req.on('end', () => resolve(body));
      req.on('error', reject);
      req.end();
    });

  test('a connection with no open stream is closed by the server once it is quiet', async () => {
    const s = await open();
    assert.equal(await get(s, '/'), 'ok');
    // The server's GOAWAY ends the session; no request is needed for it.
    await once(s, 'close');
    assert.equal(s.closed, true);
  });

  test('a connection holding a stream stays open while quiet, and is closed after the stream ends', async () => {
    const s = await open();
    const held = s.request({ ':path': '/hold' });
    held.setEncoding('utf8');
    let seen = '';
    held.on('data', (c: string) => (seen += c));
    held.on('error', () => undefined);
    await once(held, 'response');
    // Many idle periods with the stream held and nothing sent: still open, still serving.
    await new Promise((r) => setTimeout(r, IDLE_MS * 5));
    assert.equal(s.closed, false);
    assert.equal(await get(s, '/'), 'ok');
    assert.match(seen, /held/);
    held.close();
    await once(s, 'close');
  });
});

test('a TLS handshake that ends after the server began to close does not keep the close waiting', async () => {
  const { server, url } = await h2Server();
  const port = Number(new URL(url).port);
  // A connection accepted before the close, whose handshake (and held stream) come after it.
  const tcp = connectTcp(port, '127.0.0.1');
  tcp.on('error', () => undefined);
  await once(tcp, 'connect');
  const closing = closeHttp(server);
  const s = connect(url, {
    createConnection: () => tlsConnect({ socket: tcp, ALPNProtocols: ['h2'], rejectUnauthorized: false }),
  });
  s.on('error', () => undefined);
  try {
    const held = s.request({ ':path': '/hold' });
    held.on('error', () => undefined);
    // Before the fix the close waited for that session as long as it held its stream: forever.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('hung'), 30_000)));
    assert.equal(await Promise.race([closing.then(() => 'closed'), hung]), 'closed');
    clearTimeout(timer);
  } finally {
    s.destroy();
  }
});

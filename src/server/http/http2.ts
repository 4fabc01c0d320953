/**
 * HTTP/2 beside HTTP/1.1 on the API's TLS listener, chosen per connection by ALPN: a client that
 * offers `h2` (the config subscribers' simulator, any HTTP/2 client) gets HTTP/2 and may carry many
 * requests and held streams on one connection; every other client (the agents' and the CLI's
 * HTTP/1.1, WebSocket-style upgrades for exec) gets the same HTTP/1.1 server as before. Both reach
 * the same request listener: the same routes, admission, authentication (the client certificate is
 * read from the TLS socket under the HTTP/2 session) and answers.
 *
 * Why: a held stream per subscriber (a config tree's control stream, a watch) costs the server a
 * descriptor and a socket per client over HTTP/1.1; over HTTP/2 it is a stream of a shared
 * connection, as Kubernetes' watches are. A plaintext listener (loopback, no TLS) stays HTTP/1.1.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { createServer as createHttp2Server, type Http2Session } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** What the TLS listener offers by ALPN, best first. */
export const ALPN_PROTOCOLS = ['h2', 'http/1.1'];

/** Streams one HTTP/2 connection may hold open at once (a simulator multiplexes thousands). */
const MAX_STREAMS_PER_CONNECTION = 20_000;

/**
 * Makes `server` (an HTTPS server created with `ALPNProtocols: ALPN_PROTOCOLS`) serve HTTP/2 to the
 * connections that chose `h2`, with `listener`. Its `closeAllConnections` ends those sessions too.
 */
export function offerHttp2(server: HttpsServer, listener: RequestListener): void {
  const h2 = createHttp2Server(
    {
      settings: { maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION },
      // Per connection: thousands of held streams, each with its headers and a little buffered.
      maxSessionMemory: 256,
    },
    // The compatibility API's request and response have the members the routes use (headers,
    // socket, writeHead, write, end, 'close'); the routes are written against node:http's types.
    (req, res) => listener(req as unknown as IncomingMessage, res as unknown as ServerResponse),
  );
  const sessions = new Set<Http2Session>();
  h2.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    session.on('error', () => session.destroy());
  });
  const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else for (const l of http1) l.call(server, socket);
  });
  const closeHttp1 = server.closeAllConnections.bind(server);
  server.closeAllConnections = (): void => {
    closeHttp1();
    for (const s of sessions) s.destroy();
  };
}

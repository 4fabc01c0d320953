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
import { createServer as createHttp2Server, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { Server as HttpsServer } from 'node:https';
import type { TLSSocket } from 'node:tls';

/** What the TLS listener offers by ALPN, best first. */
export const ALPN_PROTOCOLS = ['h2', 'http/1.1'];

/** Streams one HTTP/2 connection may hold open at once (a simulator multiplexes thousands). */
const MAX_STREAMS_PER_CONNECTION = 20_000;

/**
 * An HTTP/2 connection with no open stream is closed (GOAWAY, then the socket) after this long
 * without a frame. HTTP/1.1's idle keep-alive connections close after 5 s; a multiplexed one is worth
 * keeping longer, but not forever: each holds a socket, a TLS session and up to `maxSessionMemory`.
 * A connection holding a stream (a watch, a config tree's control stream) stays however quiet.
 */
const IDLE_SESSION_MS = 60_000;

export interface Http2Options {
  /** Idle time after which a connection with no open stream is closed (ms, default 60,000). */
  idleSessionMs?: number;
}

/**
 * Makes `server` (an HTTPS server created with `ALPNProtocols: ALPN_PROTOCOLS`) serve HTTP/2 to the
 * connections that chose `h2`, with `listener`. Its `closeAllConnections` ends those sessions too.
 */
export function offerHttp2(server: HttpsServer, listener: RequestListener, o: Http2Options = {}): void {
  const idleMs = o.idleSessionMs ?? IDLE_SESSION_MS;
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
    let open = 0;
    // 'timeout' comes after `idleMs` without a frame either way (and again after the next quiet
    // stretch); the timer is started again when the last stream ends, which is not a frame here.
    session.on('timeout', () => {
      if (open === 0) session.close();
    });
    session.setTimeout(idleMs);
    session.on('stream', (stream: ServerHttp2Stream) => {
      open++;
      stream.once('close', () => {
        if (--open === 0 && !session.closed) session.setTimeout(idleMs);
      });
    });
  });
  const http1 = server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
  server.removeAllListeners('secureConnection');
  server.on('secureConnection', (socket: TLSSocket) => {
    // A handshake that ends after the server began to close: `closeAllConnections` has already
    // run, and a session made now (a client holding a stream) would keep `close` waiting forever.
    if (!server.listening) {
      socket.destroy();
      return;
    }
    if (socket.alpnProtocol === 'h2') h2.emit('connection', socket);
    else for (const l of http1) l.call(server, socket);
  });
  const closeHttp1 = server.closeAllConnections.bind(server);
  server.closeAllConnections = (): void => {
    closeHttp1();
    for (const s of sessions) s.destroy();
  };
}

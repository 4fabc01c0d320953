/** Answers on the socket of an HTTP/1.1 Upgrade request, before (or instead of) switching protocols. */
import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * A response over an upgrade request's socket: a refusal is written as any answer (sendJson) and
 * closes the connection; a handler that switches protocols writes to the socket itself instead.
 */
export function upgradeResponse(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.assignSocket(socket as Socket);
  res.shouldKeepAlive = false;
  res.on('finish', () => {
    res.detachSocket(socket as Socket);
    socket.end();
  });
  return res;
}

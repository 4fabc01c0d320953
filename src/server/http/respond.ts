import type { ServerResponse } from 'node:http';
import { DabbaError, httpStatusFor } from '../../errors/index.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  sendJsonText(res, status, JSON.stringify(body));
}

/** Sends JSON already encoded (`text` is what `JSON.stringify` gave for the body). */
export function sendJsonText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** Turns any thrown value into the API's error shape; unknown errors become 500 without internals. */
export function toErrorBody(e: unknown): {
  status: number;
  body: { code: string; message: string; details: object };
} {
  if (e instanceof DabbaError) {
    return { status: httpStatusFor(e.code), body: { code: e.code, message: e.message, details: e.details } };
  }
  return {
    status: 500,
    body: { code: 'DABBA_E_INTERNAL', message: 'internal server error (see the server log)', details: {} },
  };
}

export { writeChunk } from '../../lib/index.ts';

import type { ServerResponse } from 'node:http';
import { DabbaError, httpStatusFor } from '../../errors/index.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
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

/**
 * Writes a chunk of a streamed answer and waits while the client is slow to read; returns at once
 * when the client is gone (a write to a closed response never drains: waiting for 'drain' there
 * would hang the handler, and whatever timer it holds, for good).
 */
export async function writeChunk(res: ServerResponse, chunk: string | Uint8Array): Promise<void> {
  if (res.destroyed || res.writableEnded) return;
  if (res.write(chunk)) return;
  await new Promise<void>((resolve) => {
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

/** Backpressure on a streamed HTTP answer that never hangs on a client that has gone away. */
import type { ServerResponse } from 'node:http';

/** Until the client has read what was written, or is gone (a gone client never drains). */
export function drained(res: ServerResponse): Promise<void> {
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

/**
 * Writes a chunk of a streamed answer and waits while the client is slow to read; returns at once
 * when the client is gone (a write to a closed response never drains: waiting for 'drain' there
 * would hang the handler, and whatever timer it holds, for good).
 */
export async function writeChunk(res: ServerResponse, chunk: string | Uint8Array): Promise<void> {
  if (res.destroyed || res.writableEnded) return;
  if (res.write(chunk)) return;
  await drained(res);
}

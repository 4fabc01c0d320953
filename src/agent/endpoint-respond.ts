/** Answers of the agent's endpoint: JSON bodies and errors in the API's shape, and backpressure. */
import type { ServerResponse } from 'node:http';

export function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function fail(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, { code, message, details: {} });
}

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

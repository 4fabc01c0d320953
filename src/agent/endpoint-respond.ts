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

export { drained } from '../lib/index.ts';

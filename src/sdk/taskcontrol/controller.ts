/**
 * A helper for writing a TaskControl controller: an HTTP server that receives Dabba's requests
 * (the pending disruptive operations on a job's tasks, maintenance notices, unhealthy and completed
 * operations) and answers with the ids it allows. The decision is yours: `decide` gets the parsed
 * request and returns the ids to acknowledge (any subset of `pending`). A `decide` that throws
 * answers 500, which Dabba treats as "nothing allowed" (operations wait, except at their deadline).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PendingOperation, TaskControlRequest } from '../../model/index.ts';

export type Decide = (request: TaskControlRequest) => Iterable<string> | Promise<Iterable<string>>;

export interface ControllerServer {
  /** Base URL, e.g. http://127.0.0.1:41234/ (use it as the job's taskControl.url). */
  url: string;
  server: Server;
  close(): Promise<void>;
}

/** Largest request body read. */
const MAX_BODY = 4 << 20;

/** Parses and checks a request body; undefined when it is not a TaskControl request. */
export function parseTaskControlRequest(v: unknown): TaskControlRequest | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const r = v as Partial<TaskControlRequest>;
  if (typeof r.job !== 'string' || typeof r.sequence !== 'number') return undefined;
  if (!Array.isArray(r.pending) || !r.pending.every(isOperation)) return undefined;
  return {
    job: r.job,
    sequence: r.sequence,
    pending: r.pending,
    notices: Array.isArray(r.notices) ? r.notices : [],
    completed: Array.isArray(r.completed) ? r.completed.filter((c) => typeof c === 'string') : [],
    unhealthy: Array.isArray(r.unhealthy) ? r.unhealthy : [],
  };
}

function isOperation(o: unknown): o is PendingOperation {
  if (typeof o !== 'object' || o === null) return false;
  const p = o as Record<string, unknown>;
  return typeof p['id'] === 'string' && typeof p['task'] === 'string' && typeof p['op'] === 'string';
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new Error('request too large');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export interface ServeOptions {
  host?: string;
  port?: number;
  /**
   * The controller's other routes on the same port (a status page, a discovery endpoint for the
   * service's own tasks...): called first for every request; return true when it answered.
   * TaskControl requests are the POSTs it leaves.
   */
  routes?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** Starts a controller on host:port (port 0: any free port). */
export async function serveTaskControl(
  decide: Decide,
  options: ServeOptions = {},
): Promise<ControllerServer> {
  const server = createServer((req, res) => {
    const answer = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      if (options.routes?.(req, res) === true) return;
    } catch (e) {
      if (!res.headersSent) answer(500, { error: e instanceof Error ? e.message : String(e) });
      return;
    }
    if (req.method !== 'POST') return answer(405, { error: 'POST a TaskControl request' });
    readBody(req)
      .then(async (text) => {
        const request = parseTaskControlRequest(JSON.parse(text));
        if (request === undefined) return answer(400, { error: 'not a TaskControl request' });
        const allowed = new Set(request.pending.map((p) => p.id));
        const ack = [...(await decide(request))].filter((id) => allowed.has(id));
        answer(200, { ack });
      })
      .catch((e: unknown) => answer(500, { error: e instanceof Error ? e.message : String(e) }));
  });
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  return {
    url: `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}/`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

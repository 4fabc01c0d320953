/**
 * `POST /v1/exec/TASK` on the agent's endpoint, body `{"command": [...]}`: runs the command in the
 * task's environment (Runtime.execStream) and answers NDJSON, one object a line:
 * `{"stream":"stdout"|"stderr","data":BASE64}` as output comes, then `{"exit":N}` (or
 * `{"error":MESSAGE}` if it could not be followed to its end). The server proxies `dabba exec` here.
 * When the caller goes away the command is killed.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isDabbaError, messageOf } from '../errors/index.ts';
import type { Runtime } from '../runtime/index.ts';
import { drained } from './endpoint-respond.ts';

const MAX_BODY = 256 * 1024;

function send(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code, message, details: {} }));
}

async function readCommand(req: IncomingMessage): Promise<string[] | string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) return 'request body too large';
    chunks.push(c);
  }
  let body: unknown;
  try {
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    return 'the body is not JSON';
  }
  const command = (body as { command?: unknown } | null)?.command;
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string'))
    return 'command must be a non-empty list of strings';
  return command;
}

export function serveExec(
  runtime: Runtime,
  hasTask: (id: string) => boolean,
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  void (async () => {
    const command = await readCommand(req).catch((e: unknown) => messageOf(e));
    if (typeof command === 'string') return send(res, 400, 'DABBA_E_BAD_REQUEST', command);
    if (!hasTask(id)) return send(res, 404, 'DABBA_E_NOT_FOUND', `task "${id}" is not on this host`);
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    let session;
    try {
      session = await runtime.execStream(id, command, { signal: controller.signal });
    } catch (e) {
      const reason = isDabbaError(e) ? e.details['reason'] : undefined;
      if (reason === 'NotFound') return send(res, 404, 'DABBA_E_NOT_FOUND', messageOf(e));
      return send(res, 409, 'DABBA_E_CONFLICT', messageOf(e));
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    // A client gone meanwhile never drains: drained() also ends on close.
    const line = (o: unknown): Promise<void> | undefined =>
      res.write(`${JSON.stringify(o)}\n`) ? undefined : drained(res);
    try {
      for await (const chunk of session.output) {
        if (controller.signal.aborted) break;
        await line({ stream: chunk.stream, data: Buffer.from(chunk.data).toString('base64') });
      }
      const code = await session.exit;
      await line({ exit: code });
    } catch (e) {
      if (!controller.signal.aborted) await line({ error: messageOf(e) });
    }
    res.end();
  })();
}

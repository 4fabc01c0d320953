/**
 * The client side of an interactive `dabba exec` (`-i`, `-t`): an HTTP/1.1 Upgrade to the exec
 * stream (model/exec-stream.ts) over node:http/https (fetch does not do upgrades), with the
 * client's TLS settings and request headers. A refusal comes back as the server's typed error.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import {
  EXEC_UPGRADE_PROTOCOL,
  FrameDecoder,
  encodeFrame,
  execQuery,
  type DecodedFrame,
  type ExecFrameType,
  type ExecSpec,
} from '../model/index.ts';
import type { ClientTls } from './tls.ts';

/** An open exec stream: frames from the task, and a way to send frames to it. */
export interface ExecConnection {
  frames: AsyncIterable<DecodedFrame>;
  /** Sends a frame; false when the connection is gone. */
  send(type: ExecFrameType, payload?: Uint8Array): boolean;
  close(): void;
}

export type UpgradeOutcome = { connection: ExecConnection } | { status: number; body: string };

function connection(socket: Duplex, head: Buffer): ExecConnection {
  const decoder = new FrameDecoder();
  async function* frames(): AsyncGenerator<DecodedFrame> {
    if (head.length > 0) yield* decoder.push(head);
    for await (const chunk of socket as AsyncIterable<Buffer>) yield* decoder.push(chunk);
  }
  socket.on('error', () => socket.destroy());
  return {
    frames: frames(),
    send: (type, payload) => {
      if (socket.destroyed || !socket.writable) return false;
      socket.write(encodeFrame(type, payload));
      return true;
    },
    close: () => socket.destroy(),
  };
}

async function bodyOf(res: IncomingMessage): Promise<string> {
  let text = '';
  for await (const c of res as AsyncIterable<Buffer>) text += c.toString('utf8');
  return text;
}

/** Opens `POST base/v1/tasks/ID/exec?...` with `Upgrade: dabba-exec`; rejects when unreachable. */
export function openExec(
  base: string,
  taskId: string,
  spec: ExecSpec,
  headers: Record<string, string>,
  tls: ClientTls,
  signal: AbortSignal,
): Promise<UpgradeOutcome> {
  const url = new URL(`${base}/v1/tasks/${encodeURIComponent(taskId)}/exec?${execQuery(spec)}`);
  const options = {
    method: 'POST',
    headers: { ...headers, connection: 'Upgrade', upgrade: EXEC_UPGRADE_PROTOCOL },
    agent: false as const,
    signal,
  };
  return new Promise<UpgradeOutcome>((resolve, reject) => {
    const req =
      url.protocol === 'https:' ? httpsRequest(url, { ...options, ...tls }) : httpRequest(url, options);
    req.once('upgrade', (_res, socket, head) => resolve({ connection: connection(socket, head) }));
    req.once('response', (res) => {
      bodyOf(res).then((body) => resolve({ status: res.statusCode ?? 502, body }), reject);
    });
    req.once('error', reject);
    req.end();
  });
}

/**
 * The interactive `dabba exec` on the agent's endpoint: `POST /v1/exec/TASK?command=...&stdin=1
 * &tty=1&cols=C&rows=R` with `Upgrade: dabba-exec` (the wire format is in model/exec-stream.ts).
 * Refusals are JSON answers as for the other routes; once the command runs the connection switches
 * to frames: stdin and resize frames in, stdout/stderr frames out, then the exit code. When the
 * connection goes the command is killed.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { isDabbaError, messageOf } from '../errors/index.ts';
import { upgradeResponse } from '../lib/index.ts';
import {
  EXEC_SWITCHING,
  ExecFrame,
  FrameDecoder,
  encodeFrame,
  exitPayload,
  readResize,
  type ExecFrameType,
  type ExecSpec,
} from '../model/index.ts';
import type { ExecSession, Runtime } from '../runtime/index.ts';
import { fail } from './endpoint-respond.ts';

function writeFrame(socket: Duplex, type: ExecFrameType, payload?: Uint8Array): Promise<void> | undefined {
  if (socket.destroyed) return undefined;
  if (socket.write(encodeFrame(type, payload))) return undefined;
  return new Promise<void>((resolve) => {
    const done = (): void => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** Feeds the client's frames to the session: stdin (when asked for) and resizes. */
function readFrames(socket: Duplex, head: Buffer, spec: ExecSpec, session: ExecSession): void {
  const decoder = new FrameDecoder();
  let queue = Promise.resolve();
  const onData = (chunk: Buffer): void => {
    let frames;
    try {
      frames = decoder.push(chunk);
    } catch {
      socket.destroy(); // a protocol error: the command is killed as for a gone client
      return;
    }
    for (const f of frames) {
      if (f.type === ExecFrame.resize) {
        const size = readResize(f.payload);
        if (size && session.resize) session.resize(size.cols, size.rows);
      } else if (f.type === ExecFrame.stdin && spec.stdin && session.input) {
        const input = session.input;
        const data = Buffer.from(f.payload);
        // In order, and no more read from the client while the command does not take its input.
        socket.pause();
        queue = queue
          .then(() => (data.length === 0 ? input.end() : input.write(data)))
          .finally(() => socket.resume());
      }
    }
  };
  socket.on('data', onData);
  if (head.length > 0) onData(head);
}

export async function serveExecUpgrade(
  runtime: Runtime,
  id: string,
  spec: ExecSpec,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
): Promise<void> {
  const controller = new AbortController();
  socket.on('close', () => controller.abort());
  socket.on('error', () => socket.destroy());
  let session: ExecSession;
  try {
    session = await runtime.execStream(id, spec.command, {
      signal: controller.signal,
      stdin: spec.stdin,
      ...(spec.tty ? { tty: spec.tty } : {}),
    });
  } catch (e) {
    const reason = isDabbaError(e) ? e.details['reason'] : undefined;
    const res = upgradeResponse(req, socket);
    if (reason === 'NotFound') return fail(res, 404, 'DABBA_E_NOT_FOUND', messageOf(e));
    return fail(res, 409, 'DABBA_E_CONFLICT', messageOf(e));
  }
  socket.write(EXEC_SWITCHING);
  readFrames(socket, head, spec, session);
  try {
    for await (const chunk of session.output) {
      if (controller.signal.aborted) break;
      await writeFrame(socket, chunk.stream === 'stderr' ? ExecFrame.stderr : ExecFrame.stdout, chunk.data);
    }
    const code = await session.exit;
    await writeFrame(socket, ExecFrame.exit, exitPayload(code));
  } catch (e) {
    const error = { code: 'DABBA_E_UNAVAILABLE', message: messageOf(e) };
    if (!controller.signal.aborted)
      await writeFrame(socket, ExecFrame.error, Buffer.from(JSON.stringify(error)));
  }
  socket.end();
}

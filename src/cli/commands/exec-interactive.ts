/**
 * `dabba exec -i` / `-t`: the exec stream (model/exec-stream.ts) between this terminal and the
 * command. `-i` sends stdin (end of input included); `-t` gives the command a terminal of this
 * terminal's size and follows its resizes; with both on a terminal, the local terminal is in raw
 * mode while the command runs (Ctrl-C, Ctrl-D, Ctrl-Z are bytes for the remote terminal), and is
 * restored on every way out: the command's exit, an error, a signal, process exit.
 */
import { DabbaError } from '../../errors/index.ts';
import { ExecFrame, resizePayload, type DecodedFrame } from '../../model/index.ts';
import type { DabbaClient } from '../../client/index.ts';
import { CliError, CommandExit } from '../cli-error.ts';
import type { CliContext, CliStdio } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

function terminalSize(io: CliStdio): { cols: number; rows: number } {
  const cols = io.stdout.isTTY ? io.stdout.columns : undefined;
  const rows = io.stdout.isTTY ? io.stdout.rows : undefined;
  return {
    cols: cols !== undefined && cols > 0 ? cols : 80,
    rows: rows !== undefined && rows > 0 ? rows : 24,
  };
}

/** Raw mode on the local terminal, and the one way back from it (idempotent, also at process exit). */
function rawMode(io: CliStdio): () => void {
  const stdin = io.stdin;
  if (!stdin.isTTY) return () => undefined;
  stdin.setRawMode(true);
  let restored = false;
  const restore = (): void => {
    if (restored) return;
    restored = true;
    process.off('exit', restore);
    try {
      stdin.setRawMode(false);
    } catch {
      // the terminal is gone
    }
  };
  process.once('exit', restore);
  return restore;
}

function write(stream: NodeJS.WriteStream, data: Uint8Array): Promise<void> | undefined {
  if (stream.write(data)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off('close', done);
      resolve();
    };
    stream.on('drain', done);
    stream.on('close', done);
  });
}

function errorFrame(f: DecodedFrame, task: string): DabbaError {
  let message = f.payload.toString('utf8');
  try {
    message = (JSON.parse(message) as { message?: string }).message ?? message;
  } catch {
    // plain text
  }
  return new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${task}: ${message}`);
}

export async function execInteractive(
  ctx: CliContext,
  client: DabbaClient,
  task: string,
  command: string[],
  opts: { stdin: boolean; tty: boolean },
): Promise<never> {
  const io = ctx.stdio;
  if (!io) throw new CliError('dabba exec: -i/-t need the process standard streams', EXIT.USAGE);
  if (opts.tty && opts.stdin && !io.stdin.isTTY)
    throw new CliError(
      'dabba exec: the input is not a terminal, so -t cannot be used with -i: drop -t to pipe input (e.g. echo hi | dabba exec -i TASK -- cat)',
      EXIT.USAGE,
    );
  const size = terminalSize(io);
  const conn = await client.execInteractive(
    task,
    { command, stdin: opts.stdin, ...(opts.tty ? { tty: size } : {}) },
    ctx.signal,
  );
  const restore = opts.tty && opts.stdin ? rawMode(io) : () => undefined;
  const onAbort = (): void => conn.close();
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const onInput = (d: Buffer): void => void conn.send(ExecFrame.stdin, d);
  const onEnd = (): void => void conn.send(ExecFrame.stdin);
  const onResize = (): void => {
    const s = terminalSize(io);
    conn.send(ExecFrame.resize, resizePayload(s.cols, s.rows));
  };
  if (opts.stdin) {
    io.stdin.on('data', onInput);
    io.stdin.once('end', onEnd);
    io.stdin.resume();
  }
  if (opts.tty && io.stdout.isTTY) io.stdout.on('resize', onResize);
  let code: number | undefined;
  try {
    for await (const f of conn.frames) {
      if (f.type === ExecFrame.stdout) await write(io.stdout, f.payload);
      else if (f.type === ExecFrame.stderr) await write(io.stderr, f.payload);
      else if (f.type === ExecFrame.exit && f.payload.length === 4) {
        code = f.payload.readInt32BE(0);
        break;
      } else if (f.type === ExecFrame.error) throw errorFrame(f, task);
    }
  } catch (e) {
    if (!ctx.signal.aborted) throw e;
  } finally {
    restore();
    ctx.signal.removeEventListener('abort', onAbort);
    io.stdout.off('resize', onResize);
    if (opts.stdin) {
      io.stdin.off('data', onInput);
      io.stdin.off('end', onEnd);
      io.stdin.pause();
      io.stdin.destroy(); // nothing more is read: let the process end
    }
    conn.close();
  }
  if (code !== undefined) throw new CommandExit(code & 0xff);
  // Ctrl-C (or SIGTERM) outside raw mode: the connection is closed and the command killed.
  if (ctx.signal.aborted) throw new CommandExit(EXIT.INTERRUPTED);
  throw new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${task}: the stream ended before the exit code`);
}

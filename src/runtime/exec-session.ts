/** An ExecSession over a spawned child process (both real runtimes use it for `dabba exec`). */
import type { ChildProcessByStdio } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable } from 'node:stream';
import type { ExecChunk, ExecSession } from './runtime.ts';

type Child = ChildProcessByStdio<null, Readable, Readable>;

const DRAIN_MS = 300;

/** A session for a command that could not be started: `message` on stderr, then `code`. */
export function failedSession(code: number, message: string): ExecSession {
  async function* output(): AsyncGenerator<ExecChunk> {
    await Promise.resolve();
    yield { stream: 'stderr', data: new TextEncoder().encode(`${message}\n`) };
  }
  return { output: output(), exit: Promise.resolve(code) };
}

export function signalNumber(signal: string): number {
  return (constants.signals as Record<string, number | undefined>)[signal] ?? 0;
}

/**
 * Merges the child's stdout and stderr into one stream of chunks (in the order they were read) and
 * resolves `exit` once the child has exited and both pipes have ended. `kill` is how to end the
 * command when `signal` aborts (the caller knows what must be killed: a process group, a pid inside
 * a container).
 */
export function childSession(child: Child, kill: () => void, signal?: AbortSignal): ExecSession {
  const queue: ExecChunk[] = [];
  let wake: (() => void) | undefined;
  let open = 2;
  let done = false;
  let spawnError: Error | undefined;
  const notify = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const onData =
    (stream: ExecChunk['stream']) =>
    (b: Buffer): void => {
      queue.push({ stream, data: new Uint8Array(b.buffer, b.byteOffset, b.length) });
      notify();
    };
  const onEnd = (): void => {
    open--;
    notify();
  };
  child.stdout.on('data', onData('stdout'));
  child.stderr.on('data', onData('stderr'));
  child.stdout.once('close', onEnd);
  child.stderr.once('close', onEnd);
  const exit = new Promise<number>((resolve) => {
    child.once('error', (e) => {
      spawnError = e;
      queue.push({ stream: 'stderr', data: new TextEncoder().encode(`${e.message}\n`) });
      done = true;
      notify();
      resolve((e as NodeJS.ErrnoException).code === 'ENOENT' ? 127 : 126);
    });
    // Something the command left in the background may hold the pipes open: once the command
    // has exited, what it wrote is read for a moment, then the pipes are closed.
    child.once('exit', () => {
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, DRAIN_MS).unref();
    });
    child.once('close', (code, sig) => {
      done = true;
      notify();
      resolve(code ?? 128 + signalNumber(sig ?? 'SIGKILL'));
    });
  });
  const onAbort = (): void => kill();
  signal?.addEventListener('abort', onAbort, { once: true });
  void exit.finally(() => signal?.removeEventListener('abort', onAbort));
  async function* output(): AsyncGenerator<ExecChunk> {
    for (;;) {
      const next = queue.shift();
      if (next) {
        yield next;
        continue;
      }
      if ((open <= 0 && done) || spawnError) {
        if (queue.length === 0) return;
        continue;
      }
      await new Promise<void>((r) => (wake = r));
    }
  }
  return { output: output(), exit };
}

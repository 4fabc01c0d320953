/** Runs a short command (an exec probe, `dabba exec`) with a task's environment and a timeout. */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ExecResult } from '../runtime.ts';
import { resolveCommand } from './command-lookup.ts';

/** Output kept per exec; the rest is dropped. */
const MAX_OUTPUT_BYTES = 64 * 1024;
/** How long to wait for the output pipes to drain once the command has exited. */
const DRAIN_MS = 200;

export function signalExitCode(signal: string): number {
  const n = (constants.signals as Record<string, number | undefined>)[signal];
  return 128 + (n ?? 0);
}

export async function runExec(
  command: string[],
  options: { env: Record<string, string>; cwd: string; timeoutMs: number },
): Promise<ExecResult> {
  const [name, ...args] = command;
  const file =
    name === undefined ? undefined : await resolveCommand(name, options.env['PATH'] ?? '', options.cwd);
  if (name === undefined || file === undefined) {
    return { exitCode: 127, output: `${name ?? ''}: command not found`, timedOut: false };
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let timedOut = false;
    let settled = false;
    const child = spawn(file, args, {
      argv0: name,
      cwd: options.cwd,
      env: options.env,
      detached: true, // its own process group, so a timeout kills everything it started
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (b: Buffer): void => {
      if (size >= MAX_OUTPUT_BYTES) return;
      const part = b.subarray(0, MAX_OUTPUT_BYTES - size);
      chunks.push(part);
      size += part.length;
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const killGroup = (): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    const timer = setTimeout(
      () => {
        timedOut = true;
        killGroup();
      },
      Math.max(1, options.timeoutMs),
    );
    const finish = (exitCode: number): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup(); // whatever it left running in the background
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ exitCode, output: Buffer.concat(chunks).toString('utf8'), timedOut });
    };
    child.once('error', (e: NodeJS.ErrnoException) => {
      collect(Buffer.from(`${name}: ${e.message}`));
      finish(e.code === 'ENOENT' ? 127 : 126);
    });
    child.once('exit', (code, signal) => {
      const exitCode = code ?? signalExitCode(signal ?? 'SIGKILL');
      const drain = setTimeout(() => finish(exitCode), DRAIN_MS);
      child.once('close', () => {
        clearTimeout(drain);
        finish(exitCode);
      });
    });
  });
}

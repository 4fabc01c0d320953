/** `RUNTIME exec` of a command in a running container, its output collected (at most 1 MiB). */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import type { ExecResult } from '../runtime.ts';
import { killExecByPidFile } from './exec-kill.ts';

const OUTPUT_LIMIT = 1024 * 1024;

export interface ExecOnceOptions {
  cli: string;
  globalArgs: string[];
  containerId: string;
  /** Where the runtime writes the exec'd process's pid (deleted afterwards). */
  pidFile: string;
  command: string[];
  timeoutMs: number;
}

export function ociExecOnce(o: ExecOnceOptions): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve) => {
    const child = spawn(
      o.cli,
      [...o.globalArgs, 'exec', '--pid-file', o.pidFile, o.containerId, ...o.command],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let output = '';
    let timedOut = false;
    const append = (d: Buffer): void => {
      if (output.length < OUTPUT_LIMIT) output += d.toString('utf8');
    };
    child.stdout.on('data', append);
    child.stderr.on('data', append);
    let exited = false;
    // On timeout the exec'd process is killed by pid and `runc exec` is left to reap it: killing
    // runc exec itself would orphan the process out of the container's pid namespace, where the
    // namespace's teardown waits for it to be reaped by the host's init.
    const timer = setTimeout(() => {
      timedOut = true;
      killExecByPidFile(o.pidFile, () => exited, child);
    }, o.timeoutMs);
    const finish = (code: number): void => {
      exited = true;
      clearTimeout(timer);
      void rm(o.pidFile, { force: true }).finally(() =>
        resolve({ exitCode: code, output: output.slice(0, OUTPUT_LIMIT), timedOut }),
      );
    };
    child.on('error', (e) => {
      output += e.message;
      finish(127);
    });
    child.on('close', (code, signal) =>
      finish(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)),
    );
  });
}

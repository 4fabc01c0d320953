/** Whether this process can still start processes (the process runtime's self-check). */
import { spawn } from 'node:child_process';

const TIMEOUT_MS = 10_000;

/** Undefined when `true` starts and exits 0 in time; else what went wrong. */
export function spawnCheck(): Promise<string | undefined> {
  return new Promise((resolve) => {
    const child = spawn('true', [], { stdio: 'ignore', timeout: TIMEOUT_MS });
    child.once('error', (e) => resolve(`cannot start a process: ${e.message}`));
    child.once('exit', (code, signal) =>
      resolve(code === 0 ? undefined : `a test process ended with ${signal ?? `exit ${String(code)}`}`),
    );
  });
}

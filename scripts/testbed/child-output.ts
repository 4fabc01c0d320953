/** The server's and agents' children: their logs (tail, size, waiting for a line) and their exit. */
import type { ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';

export function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

/** Waits until `file` (from byte `offset`) has a line matching `re`; fails if `child` exits first. */
export async function waitForLine(
  file: string,
  offset: number,
  re: RegExp,
  child: ChildProcess,
  what: string,
  timeoutMs = 30_000,
): Promise<RegExpExecArray> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8').slice(offset);
    } catch {
      // not written yet
    }
    const m = re.exec(text);
    if (m) return m;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(
        `${what} exited (${child.exitCode ?? child.signalCode}) before it was up:\n${tail(file)}`,
      );
    }
    if (Date.now() > until) throw new Error(`${what} was not up within ${timeoutMs} ms:\n${tail(file)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function exited(child: ChildProcess | undefined, timeoutMs = 5000): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveExit) => {
    const timer = setTimeout(resolveExit, timeoutMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolveExit();
    });
  });
}

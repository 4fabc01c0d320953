/**
 * A terminal for `dabba exec -t` without native code: util-linux `script` (package bsdutils)
 * allocates a pty, runs `$SHELL -c LINE` on its slave as a new session, copies its own stdin to the
 * master and the master to its stdout, and with `-e` exits with the command's exit code (128+N for
 * signal N). Its stdin and stdout are then plain pipes the agent reads and writes.
 *
 * Size: the line first runs `stty cols C rows R` on the pty (script opens it 0x0 when its own stdin
 * is no terminal), and a resize runs `stty -F /dev/pts/N cols C rows R` from outside, after which
 * the kernel sends SIGWINCH to the pty's foreground process group. The pty is found as fd 0 of
 * script's child. See docs/containers.md.
 */
import { spawn } from 'node:child_process';
import { readFile, readlink } from 'node:fs/promises';
import { sleep } from '../lib/index.ts';

/** One word for `sh -c`: single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

export function shellLine(argv: string[]): string {
  return argv.map(shellQuote).join(' ');
}

/**
 * `script` arguments that run `line` (a /bin/sh command line) on a new pty of the given size.
 * Spawn it with SHELL=/bin/sh in its environment (script runs `$SHELL -c`).
 */
export function scriptArgs(line: string, size: { cols: number; rows: number }): string[] {
  const stty = `stty cols ${Math.floor(size.cols)} rows ${Math.floor(size.rows)} 2>/dev/null; `;
  return ['-q', '-e', '-f', '-c', stty + line, '/dev/null'];
}

/** The pid of script's child (the session on the pty), once it exists. */
export async function scriptChild(scriptPid: number, timeoutMs = 3000): Promise<number | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const text = await readFile(`/proc/${scriptPid}/task/${scriptPid}/children`, 'utf8').catch(() => '');
    const pid = Number(text.trim().split(/\s+/)[0] ?? '');
    if (pid > 0) return pid;
    if (Date.now() > until || !(await alive(scriptPid))) return undefined;
    await sleep(20);
  }
}

async function alive(pid: number): Promise<boolean> {
  return (await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')) !== '';
}

/** The pty (/dev/pts/N) that script gave its child, if it can be found. */
export async function scriptPty(scriptPid: number): Promise<string | undefined> {
  const child = await scriptChild(scriptPid);
  if (child === undefined) return undefined;
  const path = await readlink(`/proc/${child}/fd/0`).catch(() => undefined);
  return path?.startsWith('/dev/pts/') ? path : undefined;
}

/**
 * A resize function: `stty -F PATH cols C rows R` on each terminal `targets` names (a pty, or a
 * process's /proc/PID/fd/0). Sizes are applied one at a time, in order, and only the latest of those
 * that came meanwhile.
 */
export function ptyResizer(targets: () => Promise<string[]>): (cols: number, rows: number) => void {
  let pending: { cols: number; rows: number } | undefined;
  let running = false;
  const stty = (path: string, size: { cols: number; rows: number }): Promise<void> =>
    new Promise<void>((resolve) => {
      const p = spawn('stty', ['-F', path, 'cols', String(size.cols), 'rows', String(size.rows)], {
        stdio: 'ignore',
      });
      p.once('error', () => resolve());
      p.once('close', () => resolve());
    });
  const run = async (): Promise<void> => {
    running = true;
    while (pending) {
      const size = pending;
      pending = undefined;
      for (const path of await targets()) await stty(path, size);
    }
    running = false;
  };
  return (cols, rows) => {
    pending = { cols: Math.max(1, Math.floor(cols)), rows: Math.max(1, Math.floor(rows)) };
    if (!running) void run();
  };
}

/** The targets of a resize of script's own pty (found once). */
export function scriptPtyTarget(scriptPid: number): () => Promise<string[]> {
  let path: Promise<string | undefined> | undefined;
  return async () => {
    path ??= scriptPty(scriptPid);
    const p = await path;
    return p === undefined ? [] : [p];
  };
}

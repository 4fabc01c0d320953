/**
 * Starts a container under conmon: conmon daemonizes, runs `RUNTIME create`, reports the
 * container's pid (or the runtime's error output) on a sync pipe, then stays as the container's
 * parent: it writes the output to a CRI-format log file and, when the process exits, its exit code to
 * EXITDIR/<container id>. `RUNTIME start` is left to the caller.
 *
 * conmon is run by the fork helper (not forked from the agent) once config.json and the rootfs are
 * ready, without a start pipe; the helper relays the sync pipe's message.
 */
import { readFile } from 'node:fs/promises';
import type { ForkHelper } from './fork-helper.ts';

export interface ConmonOptions {
  conmon: string;
  /** Absolute path of runc/crun. */
  runtime: string;
  /** Arguments given to every runtime invocation (e.g. --root DIR). */
  runtimeArgs: string[];
  containerId: string;
  /** Short unique id (names the attach socket link). */
  uuid: string;
  bundle: string;
  pidFile: string;
  conmonPidFile: string;
  exitDir: string;
  logPath: string;
  /**
   * logPath is this named pipe, read by the log writer (container-logs.ts): conmon runs holding it
   * open for reading too (fd 4), and without --log-size-max (the writer keeps the limit).
   */
  pipe?: string;
  socketDir: string;
  logSizeMax?: number;
  timeoutMs?: number;
}

export type ConmonResult = { ok: true; pid: number; conmonPid: number } | { ok: false; message: string };

export function conmonArgs(o: ConmonOptions): string[] {
  const args = [
    '--api-version',
    '1',
    '-c',
    o.containerId,
    '-u',
    o.uuid,
    '-n',
    o.containerId,
    '-r',
    o.runtime,
    '-b',
    o.bundle,
    '-p',
    o.pidFile,
    '-P',
    o.conmonPidFile,
    '--exit-dir',
    o.exitDir,
    '-l',
    `k8s-file:${o.logPath}`,
    '--socket-dir-path',
    o.socketDir,
    '--log-level',
    'error',
  ];
  if (o.logSizeMax !== undefined && o.pipe === undefined) args.push('--log-size-max', String(o.logSizeMax));
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);
  return args;
}

/** What conmon's sync pipe said: the container's pid, or why it was not created. */
async function syncOutcome(
  text: string | undefined,
  stderr: string,
  code: number,
  conmonPidFile: string,
): Promise<ConmonResult> {
  if (text === undefined) {
    return {
      ok: false,
      message: stderr.trim() || `conmon exited with ${code} without creating the container`,
    };
  }
  let msg: { data?: number; message?: string };
  try {
    msg = JSON.parse(text) as { data?: number; message?: string };
  } catch {
    return { ok: false, message: `unexpected message from conmon: ${text}` };
  }
  if (typeof msg.data !== 'number' || msg.data <= 0) {
    return { ok: false, message: (msg.message ?? stderr).trim() || 'container create failed' };
  }
  const conmonPid = Number((await readFile(conmonPidFile, 'utf8').catch(() => '0')).trim());
  return { ok: true, pid: msg.data, conmonPid };
}

/** The container's pid, if conmon's sync message says it was created. */
function createdPid(line: string): number | undefined {
  try {
    const data = (JSON.parse(line) as { data?: unknown }).data;
    return typeof data === 'number' && data > 0 ? data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs conmon through the fork helper (no fork of the agent) once the bundle is ready, without a
 * start pipe: conmon runs `RUNTIME create` at once. Resolves when the container is created (not
 * started), as soon as conmon's sync message says so (relayed by the helper: its own bookkeeping
 * of the call goes on meanwhile); on a failure, once conmon's first process has exited, with its
 * output.
 */
export function startConmonVia(helper: ForkHelper, o: ConmonOptions): Promise<ConmonResult> {
  return new Promise<ConmonResult>((resolve) => {
    // Whichever comes first: the line saying the container was created (with conmon's pid file,
    // which its first process wrote before it exited, before its daemon child even ran the
    // runtime), or the end of the call. Both say the same.
    const ran = helper.runWithSync(o.conmon, conmonArgs(o), {
      cwd: o.bundle,
      env: { _OCI_SYNCPIPE: '3' },
      timeoutMs: o.timeoutMs ?? 60_000,
      ...(o.pipe === undefined ? {} : { holdOpen: o.pipe }),
      onLine: (line) => {
        if (createdPid(line) === undefined) return;
        void syncOutcome(line, '', 0, o.conmonPidFile).then((r) => {
          if (r.ok && r.conmonPid > 0) resolve(r);
        });
      },
    });
    void ran.then(async ({ line, result }) =>
      resolve(await syncOutcome(line, result.stderr, result.code, o.conmonPidFile)),
    );
  });
}

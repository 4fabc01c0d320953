/**
 * Starts a container under conmon: conmon daemonizes, runs `RUNTIME create`, reports the
 * container's pid (or the runtime's error output) on a sync pipe, then stays as the container's
 * parent: it writes the output to a CRI-format log file and, when the process exits, its exit code to
 * EXITDIR/<container id>. `RUNTIME start` is left to the caller.
 *
 * conmon is spawned early, holding on its start pipe, so its own start-up overlaps the preparation
 * of the bundle; `go()` releases it once config.json and the rootfs are ready.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';

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
  if (o.logSizeMax !== undefined) args.push('--log-size-max', String(o.logSizeMax));
  for (const a of o.runtimeArgs) args.push('--runtime-arg', a);
  return args;
}

export class PendingConmon {
  private readonly child: ChildProcess;
  private readonly options: ConmonOptions;
  private stderr = '';
  private readonly exited: Promise<number>;
  private released = false;

  /** Spawns conmon, which waits on its start pipe (the bundle directory must exist). */
  constructor(o: ConmonOptions) {
    this.options = o;
    this.child = spawn(o.conmon, conmonArgs(o), {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, _OCI_SYNCPIPE: '3', _OCI_STARTPIPE: '4' },
      cwd: o.bundle,
    });
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.exited = new Promise<number>((resolve) => {
      this.child.on('error', (e) => {
        this.stderr += e.message;
        resolve(127);
      });
      this.child.on('exit', (code) => resolve(code ?? 1));
    });
    (this.child.stdio[4] as Writable).on('error', () => undefined);
    (this.child.stdio[3] as Readable).on('error', () => undefined);
  }

  /** Lets conmon create the container; resolves with its pid once created (not started). */
  async go(): Promise<ConmonResult> {
    this.released = true;
    const sync = this.child.stdio[3] as Readable;
    const start = this.child.stdio[4] as Writable;
    const timeoutMs = this.options.timeoutMs ?? 60_000;
    const line = new Promise<string | undefined>((resolve) => {
      let buf = '';
      const timer = setTimeout(() => {
        this.stderr += `conmon did not report within ${timeoutMs} ms`;
        done(undefined);
      }, timeoutMs);
      function done(v: string | undefined): void {
        clearTimeout(timer);
        sync.removeAllListeners('data');
        sync.destroy();
        resolve(v);
      }
      sync.setEncoding('utf8');
      sync.on('data', (d: string) => {
        buf += d;
        const nl = buf.indexOf('\n');
        if (nl !== -1) done(buf.slice(0, nl));
      });
      sync.on('end', () => done(buf.trim() === '' ? undefined : buf));
      sync.on('close', () => done(buf.trim() === '' ? undefined : buf));
    });
    start.end('0');
    const text = await line;
    const code = await this.exited;
    if (text === undefined) {
      return {
        ok: false,
        message: this.stderr.trim() || `conmon exited with ${code} without creating the container`,
      };
    }
    let msg: { data?: number; message?: string };
    try {
      msg = JSON.parse(text) as { data?: number; message?: string };
    } catch {
      return { ok: false, message: `unexpected message from conmon: ${text}` };
    }
    if (typeof msg.data !== 'number' || msg.data <= 0) {
      return { ok: false, message: (msg.message ?? this.stderr).trim() || 'container create failed' };
    }
    const conmonPid = Number((await readFile(this.options.conmonPidFile, 'utf8').catch(() => '0')).trim());
    return { ok: true, pid: msg.data, conmonPid };
  }

  /** Stops a conmon that was never released (it has not forked or run anything yet). */
  async cancel(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.child.kill('SIGKILL');
    await this.exited;
    (this.child.stdio[3] as Readable).destroy();
    (this.child.stdio[4] as Writable).destroy();
  }
}

/** Runs conmon and waits for the container to be created (not started). */
export async function startConmon(o: ConmonOptions): Promise<ConmonResult> {
  return new PendingConmon(o).go();
}

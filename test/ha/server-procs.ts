/**
 * Real `dabba server` processes on one store (etcd), for the HA tests: start, kill -9, SIGSTOP and
 * SIGCONT, and the lines each one logged (JSON, parsed). Every process is killed and every data dir
 * removed by stopAll().
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO } from '../helpers/dev-cluster.ts';
import { adminTokenFile } from '../helpers/auth.ts';

const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');

export interface LogLine {
  msg?: string;
  replica?: string;
  [k: string]: unknown;
}

export class ServerProc {
  readonly dir: string;
  readonly proc: ChildProcess;
  url = '';
  readonly lines: LogLine[] = [];
  text = '';

  constructor(dir: string, proc: ChildProcess) {
    this.dir = dir;
    this.proc = proc;
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        if (line.startsWith('{')) {
          try {
            this.lines.push(JSON.parse(line) as LogLine);
            continue;
          } catch {
            // not JSON
          }
        }
        this.text += `${line}\n`;
      }
    };
    proc.stderr?.on('data', onData);
    proc.stdout?.on('data', onData);
  }

  get pid(): number {
    return this.proc.pid ?? 0;
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async kill9(): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGCONT');
    this.proc.kill('SIGKILL');
    await exited;
  }

  stop(): void {
    this.proc.kill('SIGSTOP');
  }

  cont(): void {
    this.proc.kill('SIGCONT');
  }
}

export class ServerProcs {
  readonly all: ServerProc[] = [];

  /** Starts a `dabba server`; `args` are extra flags (e.g. `--tls`: HTTPS on loopback too). */
  async start(
    store: string,
    env: Record<string, string> = {},
    args: readonly string[] = [],
  ): Promise<ServerProc> {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-ha-server-'));
    const proc = spawn(
      process.execPath,
      [
        DABBA,
        'server',
        '--data-dir',
        dir,
        '--listen',
        '127.0.0.1:0',
        '--store',
        store,
        '--admin-token-file',
        adminTokenFile(),
        ...args,
      ],
      { env: { ...process.env, DABBA_LOG_LEVEL: 'debug', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const s = new ServerProc(dir, proc);
    this.all.push(s);
    s.url = await new Promise<string>((resolve, reject) => {
      let done = false;
      const finish = (e: Error | undefined, url = ''): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        if (e) reject(e);
        else resolve(url);
      };
      const timer = setTimeout(() => finish(new Error(`dabba server did not start:\n${s.text}`)), 30_000);
      const check = (): void => {
        if (done) return;
        const m = /API at (https?:\/\/\S+)/.exec(s.text);
        if (m?.[1]) finish(undefined, m[1]);
        else setTimeout(check, 20);
      };
      check();
      proc.once('exit', (code) => finish(new Error(`dabba server exited with ${code}:\n${s.text}`)));
    });
    return s;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.all.map((s) => s.kill9()));
    await Promise.all(this.all.map((s) => rm(s.dir, { recursive: true, force: true })));
  }
}

/**
 * A `dabba server` (or another entry point) in a child process for fault tests: started with
 * optional wrapper arguments (prlimit), its URL read from its output, its stderr kept, and killed
 * by `stop()` even when the test failed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { REPO } from '../helpers/dev-cluster.ts';
import { join } from 'node:path';

export const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');

export class ServerProc {
  readonly proc: ChildProcess;
  url = '';
  output = '';
  readonly exited: Promise<number | null>;
  /** The server's data dir (`--data-dir`, or `dataDir` given to start): where admin.token is. */
  readonly dataDir: string | undefined;

  private constructor(proc: ChildProcess, dataDir: string | undefined) {
    this.proc = proc;
    this.dataDir = dataDir;
    this.exited = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  /** Runs `prefix... node args...` and waits until it prints its URL (`API at URL` or `URL URL`). */
  static async start(args: string[], prefix: string[] = [], dataDir?: string): Promise<ServerProc> {
    const cmd = [...prefix, process.execPath, ...args];
    const proc = spawn(cmd[0]!, cmd.slice(1), {
      env: { ...process.env, DABBA_LOG_LEVEL: 'info' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const flag = args.indexOf('--data-dir');
    const s = new ServerProc(proc, dataDir ?? (flag < 0 ? undefined : args[flag + 1]));
    s.url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start:\n${s.output}`)), 30_000);
      const onData = (d: Buffer): void => {
        s.output += d.toString();
        const m = /(?:API at|URL) (http:\/\/\S+)/.exec(s.output);
        if (m?.[1]) {
          clearTimeout(timer);
          resolve(m[1]);
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`exited with ${code}:\n${s.output}`));
      });
    });
    return s;
  }

  /** The admin token a fresh server wrote to its data dir, as request headers. */
  async auth(): Promise<{ authorization: string }> {
    if (this.dataDir === undefined) throw new Error('the server was started without a known data dir');
    const token = (await readFile(join(this.dataDir, 'admin.token'), 'utf8')).trim();
    return { authorization: `Bearer ${token}` };
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  send(line: string): void {
    this.proc.stdin?.write(`${line}\n`);
  }

  async health(): Promise<{ status: string; reasons: string[]; faults: Record<string, number> }> {
    const res = await fetch(`${this.url}/v1/health`, { signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) throw new Error(`health answered ${res.status}`);
    return (await res.json()) as { status: string; reasons: string[]; faults: Record<string, number> };
  }

  async stop(): Promise<void> {
    if (!this.alive) return;
    this.proc.kill('SIGKILL');
    await this.exited;
  }
}

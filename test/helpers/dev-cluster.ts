/**
 * Runs a real `dabba dev` (server + agent + embedded store) as a child process for end-to-end tests,
 * and the real CLI against it. Every process a test starts is found and killed on cleanup, even when
 * the test fails: the dev process carries a marker variable, and tasks (which get only a few of the
 * agent's variables, TMPDIR among them) a TMPDIR inside the cluster's data dir.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';

import { TEST_ADMIN_TOKEN, TEST_CONFIG_HOME } from './auth.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real CLI; resolves with its exit code and output. */
export function cli(
  args: string[],
  options: { addr?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    // The test's admin token, and a config dir of its own: never the user's ~/.config/dabba.
    const env: Record<string, string | undefined> = {
      ...process.env,
      DABBA_LOG_LEVEL: 'warn',
      DABBA_TOKEN: TEST_ADMIN_TOKEN,
      XDG_CONFIG_HOME: TEST_CONFIG_HOME,
      ...options.env,
    };
    if (options.addr !== undefined) env['DABBA_ADDR'] = options.addr;
    const child = spawn(process.execPath, [DABBA, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

export class DevCluster {
  readonly dataDir: string;
  readonly marker: string;
  url = '';
  proc: ChildProcess | undefined;
  #log = '';
  /** Extra arguments of `dabba dev`. */
  #args: string[] = [];

  private constructor(dataDir: string, marker: string) {
    this.dataDir = dataDir;
    this.marker = marker;
  }

  /**
   * `args`: more arguments for `dabba dev` (e.g. `--deploy examples/hello`); `cwd`: run it from
   * there, with the data dir given as an absolute path (relative paths in `args` then resolve there);
   * `prepare` runs on the empty data dir before the first boot (e.g. mounts a small tmpfs there).
   */
  static async start(
    options: {
      driver?: string;
      args?: string[];
      cwd?: string;
      prepare?: (dataDir: string) => Promise<void>;
    } = {},
  ): Promise<DevCluster> {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-e2e-'));
    const c = new DevCluster(dir, randomUUID());
    c.#args = options.args ?? [];
    if (options.cwd !== undefined) c.#cwd = options.cwd;
    try {
      await options.prepare?.(dir);
      await c.boot(options.driver ?? 'process');
    } catch (e) {
      // Nobody else holds this cluster yet: a dev that did not come up (or came up too slowly) is
      // killed with whatever it started, or its pipes would keep the test process alive for good.
      await c.destroy().catch(() => undefined);
      throw e;
    }
    return c;
  }

  #cwd: string | undefined;

  /** TMPDIR of the dev process and so of every task: how the cluster's processes are found. */
  get tmp(): string {
    return join(this.dataDir, 'tmp');
  }

  /**
   * Starts (or restarts) `dabba dev` on this cluster's data dir, given as a path relative to the
   * process's working directory, as the README's quick start does (`.dabba/dev`).
   */
  async boot(driver = 'process'): Promise<void> {
    await mkdir(this.tmp, { recursive: true });
    const proc = spawn(
      process.execPath,
      [
        DABBA,
        'dev',
        '--data-dir',
        this.#cwd === undefined ? basename(this.dataDir) : this.dataDir,
        '--listen',
        '127.0.0.1:0',
        '--driver',
        driver,
        ...this.#args,
      ],
      {
        cwd: this.#cwd ?? dirname(this.dataDir),
        env: {
          ...process.env,
          DABBA_LOG_LEVEL: 'warn',
          DABBA_TEST_MARKER: this.marker,
          TMPDIR: this.tmp,
          // dev stores its admin token as this user's credentials: here, in the cluster's dir.
          XDG_CONFIG_HOME: this.configHome,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.proc = proc;
    this.#log = '';
    this.url = await new Promise<string>((resolveUrl, reject) => {
      // Generous: on a loaded machine (CI's 2 cores running several test files) dev may take long.
      const timer = setTimeout(() => reject(new Error(`dabba dev did not start:\n${this.#log}`)), 90_000);
      const onData = (d: Buffer): void => {
        this.#log += d.toString();
        const m = /API at (http:\/\/\S+)/.exec(this.#log);
        if (m?.[1]) {
          clearTimeout(timer);
          resolveUrl(m[1]);
        }
      };
      proc.stderr?.on('data', onData);
      proc.stdout?.on('data', (d: Buffer) => (this.#log += d.toString()));
      proc.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`dabba dev exited with ${code}:\n${this.#log}`));
      });
    });
  }

  get log(): string {
    return this.#log;
  }

  /** The config dir (XDG_CONFIG_HOME) of the dev process and of this cluster's CLI runs. */
  get configHome(): string {
    return join(this.dataDir, 'config');
  }

  /** The admin token `dabba dev` wrote in its data dir. */
  async adminToken(): Promise<string> {
    return (await readFile(join(this.dataDir, 'admin.token'), 'utf8')).trim();
  }

  /**
   * Runs the CLI against this cluster as the user after `dabba dev` would: no token given, the
   * credentials dev stored picked up by address.
   */
  cli(args: string[], options: { timeoutMs?: number } = {}): Promise<CliResult> {
    return cli(args, {
      ...options,
      addr: this.url,
      env: { DABBA_TOKEN: '', XDG_CONFIG_HOME: this.configHome },
    });
  }

  async api(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: unknown }> {
    const init: RequestInit = {
      method,
      headers: { authorization: `Bearer ${await this.adminToken()}`, ...headers },
    };
    if (body !== undefined) {
      init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
      if (!('content-type' in headers))
        (init.headers as Record<string, string>)['content-type'] = 'application/json';
    }
    const res = await fetch(this.url + path, init);
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed };
  }

  /** SIGKILL the dev process (tasks keep running). */
  async kill9(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }

  /** Graceful stop of the dev process; throws if it does not exit within 10 s (it is then killed). */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    let hung = false;
    const timer = setTimeout(() => {
      hung = true;
      p.kill('SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(timer);
    if (hung) throw new Error(`dabba dev did not exit within 10 s of SIGTERM:\n${this.#log.slice(-2000)}`);
  }

  /** Pids of live processes started by this cluster (the dev process and every task). */
  async processes(): Promise<number[]> {
    return findMarked([`DABBA_TEST_MARKER=${this.marker}`, `TMPDIR=${this.tmp}`]);
  }

  /** Kills everything this cluster started and removes its data. */
  async destroy(): Promise<void> {
    await this.kill9();
    for (const pid of await this.processes()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Processes whose environment has one of these NAME=VALUE entries. */
export async function findMarked(needles: string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      // Reading the environment of a stopped or frozen process (a container being frozen by its
      // runtime, a SIGSTOPped daemon) can block: look at its state first.
      const stat = await readFile(`/proc/${name}/stat`, 'latin1');
      const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
      if (state === 'D' || state === 'T' || state === 't' || state === 'Z') continue;
      const env = await readFile(`/proc/${name}/environ`, 'latin1');
      const vars = env.split('\0');
      if (needles.some((n) => vars.includes(n))) pids.push(Number(name));
    } catch {
      // gone or not ours
    }
  }
  return pids;
}

export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
  everyMs = 200,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * The body of a GET, asked again while the connection fails (up to `timeoutMs`): a task reported
 * running and ready may still be restarted by a probe on a loaded machine just before it is asked.
 * An HTTP answer of any status is returned at once (a wrong body is a failure, not retried).
 */
export async function getText(url: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(
    `an answer from ${url}`,
    () =>
      fetch(url, { signal: AbortSignal.timeout(10_000) })
        .then((r) => r.text())
        .catch(() => undefined),
    timeoutMs,
    250,
  );
}

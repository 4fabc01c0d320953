/**
 * Starts a real etcd cluster (the Debian etcd-server binary) on 127.0.0.1 for tests and local use:
 * one process per member, free client and peer ports, temp data dirs, fast raft timing. Every process
 * is killed and every data dir removed by stop(), which also runs when the test process exits.
 *
 *   const cluster = await startEtcdCluster({ members: 3 });
 *   after(() => cluster.stop());
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import {
  accessSync,
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export interface EtcdClusterOptions {
  /** Cluster size. Default 3. */
  members?: number;
  /** Where the data dirs and logs go; created. Default: a new temp dir, removed by stop(). */
  dir?: string;
  /** Raft heartbeat (ms). Default 50. */
  heartbeatMs?: number;
  /** Raft election timeout (ms). Default 500 (etcd's minimum lease TTL is then 1 s). */
  electionMs?: number;
  /** The etcd binary. Default $ETCD_BIN or `etcd` on PATH. */
  bin?: string;
  /** Leave the processes running when this process exits (the CLI's `up`). Default false. */
  detached?: boolean;
  /** How long to wait for the cluster to be healthy (ms). Default 20,000. */
  startTimeoutMs?: number;
  /** More arguments of every member (e.g. --quota-backend-bytes=N). */
  extraArgs?: string[];
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  /** Pid of the running process, undefined while the member is down. */
  pid: number | undefined;
}

/** What `up` records so that `down` (another process) can find the members. */
export interface EtcdClusterState {
  dir: string;
  endpoints: string[];
  members: EtcdMember[];
}

export interface EtcdCluster {
  readonly dir: string;
  /** Client URLs (http://127.0.0.1:PORT), one per member, in member order. */
  readonly endpoints: string[];
  readonly members: readonly EtcdMember[];
  /** Sends signal to member i (default SIGKILL) and waits for it to exit. */
  killMember(i: number, signal?: NodeJS.Signals): Promise<void>;
  /**
   * SIGSTOP: member i stops answering but keeps its connections open (a hung machine). Resolves
   * once the process is stopped (every thread: nothing it sends after this).
   */
  freezeMember(i: number): Promise<void>;
  /** SIGCONT after freezeMember. */
  thawMember(i: number): void;
  /** Starts member i again on its data dir and ports; waits until it serves and has a leader. */
  restartMember(i: number): Promise<void>;
  /** Index of the member that is leader now (asks the running members), or -1 when none is. */
  leaderIndex(): Promise<number>;
  /** Waits until every running member is healthy (has a leader and serves reads). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /** The last lines of member i's log (for failure messages). */
  logTail(i: number, lines?: number): string;
  /** Where the members are (written to DIR/cluster.json by the CLI's `up`). */
  state(): EtcdClusterState;
  /** Kills every member and removes the dir (unless it was given). Safe to call twice. */
  stop(): Promise<void>;
}

const STATE_FILE = 'cluster.json';

/** Records where a detached cluster's members are, for stopEtcdClusterAt (another process). */
export function writeEtcdClusterState(cluster: EtcdCluster): string {
  const file = join(cluster.dir, STATE_FILE);
  writeFileSync(file, `${JSON.stringify(cluster.state(), null, 2)}\n`);
  return file;
}

export function readEtcdClusterState(dir: string): EtcdClusterState | undefined {
  try {
    return JSON.parse(readFileSync(join(resolve(dir), STATE_FILE), 'utf8')) as EtcdClusterState;
  } catch {
    return undefined;
  }
}

/** Whether pid is still the etcd member that was started on dataDir (pids get reused). */
export function isMemberProcess(pid: number | undefined, dataDir: string): boolean {
  if (pid === undefined) return false;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes(`--data-dir=${dataDir}`);
  } catch {
    return false;
  }
}

/**
 * Stops the cluster recorded in dir (started by another process): kills its members, waits for them
 * to exit, and removes what `up` created there (member data dirs, logs, the state file). Returns the
 * names of the members that were running.
 */
export async function stopEtcdClusterAt(dir: string): Promise<string[]> {
  const state = readEtcdClusterState(dir);
  if (state === undefined)
    throw new Error(`no etcd cluster recorded in ${resolve(dir)} (${STATE_FILE} missing)`);
  const running = state.members.filter((m) => isMemberProcess(m.pid, m.dataDir));
  for (const m of running) process.kill(m.pid ?? 0, 'SIGTERM');
  const deadline = Date.now() + 10_000;
  while (running.some((m) => isMemberProcess(m.pid, m.dataDir))) {
    if (Date.now() > deadline) {
      for (const m of running) if (isMemberProcess(m.pid, m.dataDir)) process.kill(m.pid ?? 0, 'SIGKILL');
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  for (const m of state.members) {
    rmSync(m.dataDir, { recursive: true, force: true });
    rmSync(m.logFile, { force: true });
  }
  rmSync(join(state.dir, STATE_FILE), { force: true });
  try {
    rmdirSync(state.dir); // only if nothing else is in it
  } catch {
    // Not empty: it holds the user's own files.
  }
  return running.map((m) => m.name);
}

/** Whether an etcd binary is available; the version line when it is. */
export function etcdVersion(bin = defaultBin()): string | undefined {
  const r = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (r.error !== undefined || r.status !== 0) return undefined;
  return /etcd Version: (\S+)/.exec(r.stdout)?.[1] ?? r.stdout.split('\n')[0];
}

/**
 * The `skip` option of a test that needs etcd: only DABBA_SKIP_ETCD=1 skips it. Without etcd (and
 * without that variable) the test runs and fails, with startEtcdCluster's message saying what to
 * install: a missing etcd must not pass for a green run.
 */
export function etcdSkip(): string | false {
  return process.env['DABBA_SKIP_ETCD'] === '1' ? 'skipped (DABBA_SKIP_ETCD=1)' : false;
}

/** What a test says when etcd is missing: what to install, and the variable that skips etcd tests. */
export function etcdMissingMessage(bin = defaultBin()): string {
  return (
    `etcd not found (${bin}): install etcd-server (apt-get install etcd-server; npm test's preflight ` +
    'installs it as root) or set ETCD_BIN; set DABBA_SKIP_ETCD=1 to skip the etcd tests'
  );
}

function defaultBin(): string {
  return process.env['ETCD_BIN'] ?? 'etcd';
}

/** Starts the cluster; retries with new ports if one was taken meanwhile. */
export async function startEtcdCluster(options: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  const bin = options.bin ?? defaultBin();
  if (etcdVersion(bin) === undefined) {
    throw new Error(etcdMissingMessage(bin));
  }
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const cluster = new Cluster(bin, options);
    try {
      await cluster.start();
      return cluster;
    } catch (e) {
      lastError = e;
      const portClash = cluster.logs().includes('address already in use');
      await cluster.stop();
      if (!portClash) break;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}

const live = new Set<Cluster>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort (a test that forgot stop(), an uncaught error): kill synchronously on exit.
  process.on('exit', () => {
    for (const c of live) c.killAllSync();
  });
}

class Cluster implements EtcdCluster {
  readonly dir: string;
  readonly endpoints: string[] = [];
  readonly members: EtcdMember[] = [];
  readonly #bin: string;
  readonly #options: EtcdClusterOptions;
  readonly #ownsDir: boolean;
  readonly #procs: (ChildProcess | undefined)[] = [];
  #stopped = false;
  #initialCluster = '';
  readonly #token = `dabba-${randomUUID().slice(0, 8)}`;

  constructor(bin: string, options: EtcdClusterOptions) {
    this.#bin = bin;
    this.#options = options;
    this.#ownsDir = options.dir === undefined;
    this.dir = options.dir === undefined ? tmpDir() : resolve(options.dir);
    mkdirSync(this.dir, { recursive: true });
  }

  async start(): Promise<void> {
    const n = this.#options.members ?? 3;
    if (!Number.isInteger(n) || n < 1) throw new Error(`members must be a positive integer, got ${n}`);
    const ports = await freePorts(2 * n);
    for (let i = 0; i < n; i++) {
      const name = `m${i}`;
      this.members.push({
        name,
        clientUrl: `http://127.0.0.1:${ports[2 * i]}`,
        peerUrl: `http://127.0.0.1:${ports[2 * i + 1]}`,
        dataDir: join(this.dir, name),
        logFile: join(this.dir, `${name}.log`),
        pid: undefined,
      });
    }
    this.endpoints.push(...this.members.map((m) => m.clientUrl));
    this.#initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    if (this.#options.detached !== true) {
      live.add(this);
      installExitHook();
    }
    for (let i = 0; i < n; i++) this.#spawn(i);
    await this.waitHealthy(this.#options.startTimeoutMs ?? 20_000);
  }

  #spawn(i: number): void {
    const m = this.#member(i);
    const hb = this.#options.heartbeatMs ?? 50;
    const el = this.#options.electionMs ?? 500;
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientUrl}`,
      `--advertise-client-urls=${m.clientUrl}`,
      `--listen-peer-urls=${m.peerUrl}`,
      `--initial-advertise-peer-urls=${m.peerUrl}`,
      `--initial-cluster=${this.#initialCluster}`,
      `--initial-cluster-state=new`,
      `--initial-cluster-token=${this.#token}`,
      `--heartbeat-interval=${hb}`,
      `--election-timeout=${el}`,
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
      ...(this.#options.extraArgs ?? []),
    ];
    // Output goes to a file so that detached members do not depend on this process.
    const fd = openSync(m.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.#bin, args, {
        stdio: ['ignore', fd, fd],
        detached: this.#options.detached === true,
      });
    } finally {
      closeSync(fd);
    }
    child.on('error', () => undefined); // reported through the exit / health checks
    if (this.#options.detached === true) child.unref();
    this.#procs[i] = child;
    m.pid = child.pid;
    child.once('exit', () => {
      if (this.#procs[i] === child) {
        this.#procs[i] = undefined;
        m.pid = undefined;
      }
    });
  }

  #member(i: number): EtcdMember {
    const m = this.members[i];
    if (m === undefined) throw new Error(`no member ${i} (cluster of ${this.members.length})`);
    return m;
  }

  async killMember(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.#member(i);
    const child = this.#procs[i];
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill(signal);
    await exited;
  }

  async freezeMember(i: number): Promise<void> {
    const pid = this.#signal(i, 'SIGSTOP');
    await waitFor(
      () => Promise.resolve(isStopped(pid)),
      5000,
      () => `member ${this.#member(i).name} (pid ${pid}) did not stop`,
    );
  }

  thawMember(i: number): void {
    this.#signal(i, 'SIGCONT');
  }

  #signal(i: number, signal: NodeJS.Signals): number {
    const m = this.#member(i);
    const child = this.#procs[i];
    if (child?.pid === undefined) throw new Error(`member ${m.name} is not running`);
    child.kill(signal);
    return child.pid;
  }

  async restartMember(i: number): Promise<void> {
    if (this.#stopped) throw new Error('the cluster is stopped');
    const m = this.#member(i);
    if (m.pid !== undefined) throw new Error(`member ${m.name} is running (pid ${m.pid})`);
    this.#spawn(i);
    await waitFor(
      () => memberHealthy(m.clientUrl),
      20_000,
      () => `member ${m.name} did not come back\n${this.logTail(i)}`,
    );
  }

  async leaderIndex(): Promise<number> {
    const answers = await Promise.all(
      this.members.map(async (m) => (m.pid === undefined ? false : await isLeader(m.clientUrl))),
    );
    return answers.indexOf(true);
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    await waitFor(
      async () => {
        const running = this.members.filter((m) => m.pid !== undefined);
        if (running.length === 0) throw new Error(`no member is running\n${this.logs()}`);
        const ok = await Promise.all(running.map((m) => memberHealthy(m.clientUrl)));
        return ok.every(Boolean);
      },
      timeoutMs,
      () => `the etcd cluster did not become healthy in ${timeoutMs} ms\n${this.logs()}`,
    );
  }

  logTail(i: number, lines = 20): string {
    const m = this.#member(i);
    let text = '';
    try {
      text = readFileSync(m.logFile, 'utf8');
    } catch {
      return `(no log for ${m.name})`;
    }
    return `--- ${m.name} (last ${lines} lines) ---\n${text.trimEnd().split('\n').slice(-lines).join('\n')}`;
  }

  logs(): string {
    return this.members.map((_, i) => this.logTail(i)).join('\n');
  }

  state(): EtcdClusterState {
    return { dir: this.dir, endpoints: [...this.endpoints], members: this.members.map((m) => ({ ...m })) };
  }

  killAllSync(): void {
    for (const child of this.#procs) {
      if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await Promise.all(this.members.map((_, i) => this.killMember(i, 'SIGKILL')));
    live.delete(this);
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

function tmpDir(): string {
  // Data on tmpfs when there is one: fsync is what makes etcd slow on a VM disk, and tests do not
  // need durability across machine crashes.
  const base = process.env['DABBA_ETCD_TMP'] ?? (isDir('/dev/shm') ? '/dev/shm' : tmpdir());
  const dir = join(base, `dabba-etcd-${process.pid}-${randomUUID().slice(0, 8)}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

function isDir(p: string): boolean {
  try {
    accessSync(p, constants.W_OK);
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** n distinct free TCP ports on 127.0.0.1 (free now; the caller retries if one is taken later). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = createServer();
      s.listen(0, '127.0.0.1');
      await once(s, 'listening');
      return s;
    }),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    if (a === null || typeof a === 'string') throw new Error('no port');
    return a.port;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function get(url: string, timeoutMs = 1000): Promise<string | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return await res.text();
  } catch {
    return undefined;
  }
}

/** etcd's /health: the member has a leader and answers a read. */
async function memberHealthy(clientUrl: string): Promise<boolean> {
  const body = await get(`${clientUrl}/health`);
  if (body === undefined) return false;
  try {
    return (JSON.parse(body) as { health?: unknown }).health === 'true';
  } catch {
    return false;
  }
}

async function isLeader(clientUrl: string): Promise<boolean> {
  const body = await get(`${clientUrl}/metrics`);
  return body !== undefined && /^etcd_server_is_leader 1$/m.test(body);
}

/** Whether every thread of pid is stopped (state T in /proc/PID/task/TID/stat). */
function isStopped(pid: number): boolean {
  try {
    const tids = readdirSync(`/proc/${pid}/task`);
    return tids.every((tid) => {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
    });
  } catch {
    return false;
  }
}

async function waitFor(pred: () => Promise<boolean>, timeoutMs: number, what: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(what());
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * One distributor against SUBSCRIBERS simulated subscribers (issue 13's bench 2; LAD's figure is
 * about 40,000 per distributor). A real `dabba server` (its own process, SQLite store, on loopback)
 * holds one config shard's tree; WORKERS processes (bench/config-subscribers-sim.ts) each simulate
 * SUBSCRIBERS / WORKERS hosts speaking the real protocol over the network: a tree stream and
 * heartbeats to the server each, and a metadata stream from each host's parent (another simulated
 * host) or, for the root, from the server.
 *
 * Measured:
 * - tree building: from the first join to every host holding its position and its upstream's
 *   snapshot (its metadata stream open);
 * - the server's CPU (utime + stime from /proc, as a share of one core) and memory (RSS, and its
 *   peak) while building, while idle with every host heartbeating, and while changes go down;
 * - CHANGES small changes (a 1 KB JSON each, put through the API): per host, from the put being
 *   sent to the new version's metadata arriving at that host; p50, p99, max over every host and
 *   change. Goal: p99 < 5 s, the server under 1 GB and one core.
 *
 * The server serves HTTPS (`--tls`) and the simulators speak HTTP/2 to it (ALPN `h2`, as any
 * client that offers it): each subscriber's tree stream is a stream of a shared connection, so
 * SUBSCRIBERS is not bounded by the open-files limit (20,000 here) as it was over HTTP/1.1.
 *
 *   node bench/config-subscribers.ts [--subscribers 40000] [--workers 8] [--fanout 3] [--changes 5]
 *     [--idle-seconds 30] [--server-log FILE] [--server-cpu-prof DIR]
 *
 * SIM_DEBUG=1 prints, every second of the build, each simulator's stream states and errors.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DabbaClient, type ConfigApi } from '../src/client/index.ts';
import { configShardOf } from '../src/model/index.ts';
import { pct, table } from './report.ts';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '40000' },
    workers: { type: 'string', default: '8' },
    fanout: { type: 'string', default: '3' },
    changes: { type: 'string', default: '5' },
    'idle-seconds': { type: 'string', default: '30' },
    /** Where the server's log goes (level info); by default it logs warnings, not kept. */
    'server-log': { type: 'string' },
    /** Writes the server's CPU profile (node --cpu-prof) into this directory when it stops. */
    'server-cpu-prof': { type: 'string' },
  },
});
const SUBS = Number(values.subscribers);
const WORKERS = Number(values.workers);
const CHANGES = Number(values.changes);
const IDLE_S = Number(values['idle-seconds']);
const PATH = 'sim/settings.json';
const BUILD_LIMIT_S = 600;
const REPO = join(import.meta.dirname, '..');

const content = (n: number): Buffer => {
  const head = JSON.stringify({ n, pad: '' });
  return Buffer.from(JSON.stringify({ n, pad: 'x'.repeat(1023 - head.length) }) + '\n');
};

/** The server's CPU seconds so far and its RSS / peak RSS in bytes. */
function usage(pid: number): { cpuS: number; rss: number; hwm: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuS = (Number(f[11]) + Number(f[12])) / 100;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string): number => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { cpuS, rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

async function startServer(dataDir: string): Promise<{ child: ChildProcess; url: string; token: string }> {
  const child = spawn(
    process.execPath,
    [
      ...(values['server-cpu-prof'] === undefined
        ? []
        : ['--cpu-prof', '--cpu-prof-dir', values['server-cpu-prof']]),
      join(REPO, 'src', 'bin', 'dabba.ts'),
      'server',
      '--data-dir',
      dataDir,
      '--listen',
      '127.0.0.1:0',
      '--config-fanout',
      values.fanout,
      // HTTPS, so that the simulators get HTTP/2 by ALPN (their streams multiplexed on few connections).
      '--tls',
      // One replica on a shared, loaded machine: a renewal late by 3 s (the default 5 s lease) lost
      // the lease in runs at 40,000, and with it every shard (every join then answered 503).
      '--lease-ttl',
      '60s',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, DABBA_LOG_LEVEL: values['server-log'] === undefined ? 'warn' : 'info' },
    },
  );
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const on = (b: Buffer): void => {
      out += b.toString();
      const m = /API at (https?:\/\/\S+)/.exec(out);
      if (m) resolve(m[1] ?? '');
    };
    child.stdout?.on('data', on);
    child.stderr?.on('data', on);
    child.on('exit', () => reject(new Error(`dabba server exited:\n${out}`)));
  });
  const log = values['server-log'];
  for (const s of [child.stdout, child.stderr]) {
    if (log === undefined) s?.resume();
    else s?.pipe(createWriteStream(log, { flags: 'a' }));
  }
  const token = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
  return { child, url, token };
}

interface WorkerState {
  positioned: number;
  ready: number;
  heartbeats: number;
  memory: number;
  failures: Record<string, number>;
  debug?: unknown;
}

class Worker {
  readonly child: ChildProcess;
  #waiters = new Map<string, (m: unknown) => void>();
  constructor(url: string, token: string, index: number, count: number, shard: number, caFile: string) {
    this.child = fork(
      join(import.meta.dirname, 'config-subscribers-sim.ts'),
      [url, token, String(index), String(count), String(shard), `127.0.0.${10 + index}`, caFile],
      { stdio: 'inherit' },
    );
    this.child.on('message', (m: { type: string }) => {
      const w = this.#waiters.get(m.type);
      this.#waiters.delete(m.type);
      w?.(m);
    });
  }
  ask<T>(type: string, extra: object = {}): Promise<T> {
    return new Promise((resolve) => {
      this.#waiters.set(type, resolve as (m: unknown) => void);
      this.child.send({ type, ...extra });
    });
  }
  waitFor<T>(type: string): Promise<T> {
    return new Promise((resolve) => this.#waiters.set(type, resolve as (m: unknown) => void));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MB`;

async function states(ws: Worker[]): Promise<WorkerState[]> {
  return Promise.all(ws.map((w) => w.ask<WorkerState>('state')));
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

/** Puts CHANGES new versions one by one; `took` gets, per change, each subscriber's delay (Infinity: missing). */
async function measureChanges(api: ConfigApi, workers: Worker[], took: number[]): Promise<void> {
  for (let n = 2; n < 2 + CHANGES; n++) {
    const sent = Date.now();
    await api.put(PATH, content(n), `change ${n}`);
    let at: number[] = [];
    for (let i = 0; i < 120; i++) {
      await sleep(500);
      const got = await Promise.all(workers.map((w) => w.ask<{ at: number[] }>('version', { version: n })));
      at = got.flatMap((g) => g.at);
      if (at.length >= SUBS) break;
    }
    const ms = at.map((t) => t - sent).sort((a, b) => a - b);
    process.stderr.write(
      `change ${n}: ${at.length}/${SUBS} hosts, p50 ${pct(ms, 50)} ms, p99 ${pct(ms, 99)} ms, max ${ms.at(-1) ?? NaN} ms\n`,
    );
    took.push(...ms, ...new Array<number>(SUBS - at.length).fill(Infinity));
    await sleep(2000);
  }
}

/** The two tables and the simulators' line. */
function report(rows: (string | number)[][], buildS: number, took: number[], st: WorkerState[]): void {
  took.sort((a, b) => a - b);
  table(
    `One distributor, ${SUBS} simulated subscribers in ${WORKERS} processes, fan-out ${values.fanout}: the server process`,
    ['phase', 'seconds', 'CPU (of one core)', 'RSS at end', 'peak RSS'],
    rows,
  );
  table(
    `A 1 KB change's metadata to all ${SUBS} (ms from the put being sent; ${CHANGES} changes)`,
    ['tree building s', 'samples', 'p50', 'p99', 'max', 'missing'],
    [
      [
        buildS.toFixed(1),
        took.length,
        pct(took, 50).toFixed(0),
        pct(took, 99).toFixed(0),
        String(took.at(-1)),
        took.filter((t) => t === Infinity).length,
      ],
    ],
  );
  console.log(`load average at the end: ${load()}`);
  console.log(
    `simulator processes: RSS ${st.map((s) => mb(s.memory)).join(', ')}; failures ${JSON.stringify(
      st.reduce<Record<string, number>>((a, s) => {
        for (const [k, v] of Object.entries(s.failures)) a[k] = (a[k] ?? 0) + v;
        return a;
      }, {}),
    )}`,
  );
}

async function main(): Promise<void> {
  console.log(`load average at the start: ${load()}`);
  const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-cfgsubs-'));
  const { child, url, token } = await startServer(dir).catch(async (e: unknown) => {
    await rm(dir, { recursive: true, force: true });
    throw e;
  });
  const pid = child.pid ?? 0;
  const workers: Worker[] = [];
  // Stopped from outside: the server and the simulators go too.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      for (const w of workers) w.child.kill('SIGKILL');
      child.kill('SIGKILL');
      process.exit(1);
    });
  const rows: (string | number)[][] = [];
  const phase = (name: string, t0: number, u0: ReturnType<typeof usage>): void => {
    const u = usage(pid);
    const s = (Date.now() - t0) / 1000;
    rows.push([name, s.toFixed(1), `${((100 * (u.cpuS - u0.cpuS)) / s).toFixed(0)}%`, mb(u.rss), mb(u.hwm)]);
  };
  try {
    const ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
    const api = new DabbaClient({ addr: url, token, ca, timeoutMs: 120_000 }).configs();
    await api.put(PATH, content(1), 'first');
    const shard = configShardOf('default', PATH);
    const per = Math.ceil(SUBS / WORKERS);
    for (let i = 0; i < WORKERS; i++) {
      const w = new Worker(url, token, i, Math.min(per, SUBS - i * per), shard, join(dir, 'ca.crt'));
      workers.push(w);
      await w.waitFor('listening');
    }
    // Tree building.
    let u0 = usage(pid);
    let t0 = Date.now();
    for (const w of workers) w.child.send({ type: 'join' });
    for (;;) {
      await sleep(1000);
      const st = await states(workers);
      const ready = st.reduce((a, s) => a + s.ready, 0);
      const positioned = st.reduce((a, s) => a + s.positioned, 0);
      process.stderr.write(`\r${positioned} positioned, ${ready} with their upstream's snapshot`);
      if (process.env['SIM_DEBUG'] === '1')
        process.stderr.write(` ${JSON.stringify(st.map((s) => s.debug))}\n`);
      // Stops waiting after BUILD_LIMIT_S: the figures then say how many had joined.
      if (ready >= SUBS || Date.now() - t0 > BUILD_LIMIT_S * 1000) break;
    }
    const buildS = (Date.now() - t0) / 1000;
    process.stderr.write('\n');
    phase(`tree building (${SUBS} joins)`, t0, u0);
    // Idle: only heartbeats.
    u0 = usage(pid);
    t0 = Date.now();
    const hb0 = (await states(workers)).reduce((a, s) => a + s.heartbeats, 0);
    await sleep(IDLE_S * 1000);
    const hb1 = (await states(workers)).reduce((a, s) => a + s.heartbeats, 0);
    phase(`idle, heartbeats (${((hb1 - hb0) / IDLE_S).toFixed(0)}/s)`, t0, u0);
    // Changes.
    const took: number[] = [];
    u0 = usage(pid);
    t0 = Date.now();
    await measureChanges(api, workers, took);
    phase(`${CHANGES} changes`, t0, u0);
    const st = await states(workers);
    report(rows, buildS, took, st);
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

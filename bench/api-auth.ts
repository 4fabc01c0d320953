/**
 * What authentication and authorization cost an API request: the same build, two servers in one
 * process, each on its own SQLite store with the same data — one with auth on (bearer token looked
 * up in the token cache, route permission checked, write requests audited), one with auth off
 * (`startServer({ auth: false })`, which exists for this comparison only). Both are loaded at the
 * same time, so that they see the same machine load request by request.
 *
 *   node bench/api-auth.ts [--seconds 1] [--rounds 12] [--concurrency 16] [--tokens 1000] [--aa]
 *
 * `--aa` runs two auth-on servers instead: how far apart two equal servers measure here.
 *
 * Requests: GET /v1/jobs/web (a namespaced read: one job, its tasks and deployment from the store)
 * and GET /v1/hosts (a cluster read), alternating, over keep-alive connections. Both stores hold
 * `--tokens` tokens besides the admin one, so the lookup is in a populated cache. Figures per
 * server: requests/s, p50 and p99 latency; then the ratio on/off (goal: under 1.05 for latency,
 * above 0.95 for throughput). Last, the check itself without HTTP around it
 * (authenticate + authorize of one request, 200,000 times): its cost per request in microseconds,
 * which no machine load hides.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { IncomingMessage } from 'node:http';
import { TokenCache, authenticate, authorize, bearerAuthenticator, createToken } from '../src/auth/index.ts';
import { DabbaClient } from '../src/client/index.ts';
import { silentLogger, systemClock } from '../src/lib/index.ts';
import { startServer, type RunningServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { pct, table } from './report.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '12' },
    concurrency: { type: 'string', default: '16' },
    tokens: { type: 'string', default: '1000' },
    aa: { type: 'boolean', default: false },
    dir: { type: 'string' },
    /** Internal: run one server (auth on|off) in this process and print its URL and token. */
    serve: { type: 'string' },
  },
});
/** Calibration: both servers with auth on, to see how far apart two equal servers measure. */
const AA = values.aa;
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = Number(values.concurrency);
const TOKENS = Number(values.tokens);

interface Target {
  name: string;
  url: string;
  proc?: ChildProcess;
  /** The Authorization header value, or undefined (auth off). */
  auth: string | undefined;
  latencies: number[];
  requests: number;
  ms: number;
  /** CPU time the server process spent in the rounds (ms). */
  cpuMs: number;
}

/** User + system CPU time of a process so far (ms), from /proc. */
function cpuOf(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // clock ticks of 10 ms
}

async function serve(
  dir: string,
  name: string,
  auth: boolean,
): Promise<{ server: RunningServer; store: SqliteStore }> {
  const store = await SqliteStore.open(join(dir, `${name}.db`));
  // Both stores hold the same tokens, written directly (through the API the auth-on server would
  // also keep an audit record of each, and the stores would differ in more than auth).
  for (let i = 0; i < TOKENS; i++) {
    await createToken(
      store,
      { name: `user-${i}`, role: 'viewer', namespaces: ['default'], createdBy: 'bench' },
      Date.now(),
    );
  }
  const server = await startServer({
    store,
    storeName: 'sqlite',
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    replicaId: name,
    ...(auth ? {} : { auth: false as const }),
  });
  const token = server.adminToken;
  const client = new DabbaClient({ addr: server.url, ...(token === undefined ? {} : { token }) });
  // The same data on both: 20 hosts, a job of 10 tasks.
  for (let i = 0; i < 20; i++) {
    await client.registerHost({
      id: `h${i}`,
      labels: { zone: `z${i % 3}` },
      capacity: { cpu: 16, memoryBytes: 64 * 2 ** 30, pids: 10_000 },
      runtime: 'process',
    });
  }
  await client.putJob('web', { name: 'web', replicas: 10, task: { command: ['sleep', '1000'] } });
  // Wait for the tasks, so both serve the same views.
  for (let i = 0; i < 200 && (await client.jobTasks('web')).length < 10; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log(JSON.stringify({ url: server.url, token: token ?? null }));
  return { server, store };
}

/** Starts a server in a child process of its own (its own event loop, as in production). */
function spawnServer(dir: string, name: string, auth: boolean): Promise<Target> {
  return new Promise((resolve, reject) => {
    const proc = spawn(
      process.execPath,
      [
        import.meta.filename,
        '--serve',
        auth ? 'on' : 'off',
        '--tokens',
        String(TOKENS),
        '--dir',
        join(dir, name),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    proc.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const line = out.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) return;
      const { url, token } = JSON.parse(line) as { url: string; token: string | null };
      resolve({
        name,
        url,
        proc,
        auth: token === null ? undefined : `Bearer ${token}`,
        latencies: [],
        requests: 0,
        ms: 0,
        cpuMs: 0,
      });
    });
    proc.on('exit', (code) => reject(new Error(`server ${name} exited with ${code}`)));
  });
}

function get(agent: Agent, url: URL, path: string, auth: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path,
        method: 'GET',
        headers: auth === undefined ? {} : { authorization: auth },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function round(t: Target, seconds: number): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const url = new URL(t.url);
  const until = performance.now() + seconds * 1000;
  const start = performance.now();
  const cpu0 = cpuOf(t.proc?.pid);
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, w) => {
      let i = w;
      while (performance.now() < until) {
        const path = i++ % 2 === 0 ? '/v1/jobs/web' : '/v1/hosts';
        const t0 = performance.now();
        await get(agent, url, path, t.auth);
        t.latencies.push(performance.now() - t0);
        t.requests++;
      }
    }),
  );
  t.ms += performance.now() - start;
  t.cpuMs += cpuOf(t.proc?.pid) - cpu0;
  agent.destroy();
}

/** The check alone: a token cache over the auth-on store, one request's authenticate + authorize. */
async function checkCost(dir: string): Promise<number> {
  const store = await SqliteStore.open(join(dir, 'check.db'));
  const admin = await createToken(
    store,
    { name: 'admin', role: 'admin', namespaces: '*', createdBy: 'bench' },
    Date.now(),
  );
  for (let i = 0; i < TOKENS; i++) {
    await createToken(
      store,
      { name: `user-${i}`, role: 'viewer', namespaces: ['default'], createdBy: 'bench' },
      Date.now(),
    );
  }
  const cache = new TokenCache(store, silentLogger);
  const stop = new AbortController();
  const run = cache.run(stop.signal);
  await cache.loaded;
  const authenticators = [bearerAuthenticator(cache, systemClock)];
  const req = { headers: { authorization: `Bearer ${admin.token}` } } as unknown as IncomingMessage;
  const n = 200_000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const r = await authenticate(authenticators, req);
    if (!r.ok) throw new Error('refused');
    authorize(r.principal, 'namespace-read', { namespace: null, params: { name: 'web' } });
  }
  const us = ((performance.now() - t0) * 1000) / n;
  stop.abort();
  await run;
  await store.close();
  return us;
}

if (values.serve !== undefined) {
  // A child: one server until the parent kills it.
  const d = values.dir ?? '';
  await mkdir(d, { recursive: true });
  await serve(d, values.serve, values.serve === 'on');
} else {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-auth-'));
  const targets: Target[] = [];
  try {
    targets.push(await spawnServer(dir, 'auth-on', true));
    targets.push(await spawnServer(dir, AA ? 'auth-on-too' : 'auth-off', AA));
    // Warm-up of both (JIT, SQLite page cache), not counted.
    for (const t of targets) await round(t, 1);
    for (const t of targets) {
      t.latencies = [];
      t.requests = 0;
      t.ms = 0;
      t.cpuMs = 0;
    }
    // Short rounds, alternating (and alternating which goes first): on a shared machine the load
    // drifts, and both should see the same drift.
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? targets : [...targets].reverse();
      for (const t of order) await round(t, SECONDS);
    }
    const figures = targets.map((t) => {
      const sorted = [...t.latencies].sort((a, b) => a - b);
      return {
        name: t.name,
        rps: (t.requests / t.ms) * 1000,
        p50: pct(sorted, 50),
        p99: pct(sorted, 99),
        cpuUs: (t.cpuMs * 1000) / t.requests,
      };
    });
    const [on, off] = figures;
    if (!on || !off) throw new Error('no figures');
    table(
      `API requests (GET /v1/jobs/web and GET /v1/hosts), ${CONCURRENCY} concurrent, ${ROUNDS} x ${SECONDS}s each, ${TOKENS} tokens`,
      ['server', 'requests/s', 'p50 ms', 'p99 ms', 'server CPU us/request'],
      figures.map((f) => [f.name, f.rps.toFixed(0), f.p50.toFixed(2), f.p99.toFixed(2), f.cpuUs.toFixed(0)]),
    );
    const us = await checkCost(dir);
    table(
      'the check alone (bearer token -> principal -> route permission), per request',
      ['figure', 'value'],
      [
        ['microseconds', us.toFixed(2)],
        ['share of the auth-off p50 latency', `${((us / 1000 / off.p50) * 100).toFixed(2)}%`],
      ],
    );
    table(
      `${on.name} / ${off.name} (goal: latency < 1.05, throughput > 0.95)`,
      ['figure', 'ratio'],
      [
        ['throughput', (on.rps / off.rps).toFixed(3)],
        ['p50 latency', (on.p50 / off.p50).toFixed(3)],
        ['p99 latency', (on.p99 / off.p99).toFixed(3)],
        ['server CPU per request', (on.cpuUs / off.cpuUs).toFixed(3)],
      ],
    );
  } finally {
    for (const t of targets) {
      if (t.proc && t.proc.exitCode === null) {
        t.proc.removeAllListeners('exit');
        const exited = new Promise((r) => t.proc?.once('exit', r));
        t.proc.kill('SIGKILL');
        await exited;
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

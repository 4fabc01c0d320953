/**
 * Endpoint changes at 1,000 services (issue 12's goal: seen by every proxy within 1 s of a task
 * becoming ready). A real server (in this process, SQLite store, loopback) with SERVICES services,
 * all named in the dependency file, each a job of one task placed on one of HOSTS registered hosts;
 * HOSTS watchers follow `GET /v1/hosts/ID/mesh?watch=1` through the client, as each agent's mesh
 * does (MeshHost) before it changes its proxy's servers. CHANGES times, one task is reported running
 * and ready (`PUT /v1/tasks/ID/status`, as its agent would) and the bench times, per watcher, from
 * the report being sent to a view holding the new endpoint; "every proxy" is the slowest watcher.
 * The proxies' runtime-API calls after that are not included (a few per change, see bench/mesh.ts).
 *
 *   node bench/mesh-endpoints.ts [--services 1000] [--hosts 10] [--changes 20] [--gap-ms 500]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DabbaClient } from '../src/client/index.ts';
import { silentLogger } from '../src/lib/index.ts';
import type { Task } from '../src/model/index.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { TEST_ADMIN_TOKEN } from '../test/helpers/auth.ts';
import { percentile } from './mesh-load.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '1000' },
    hosts: { type: 'string', default: '10' },
    changes: { type: 'string', default: '20' },
    'gap-ms': { type: 'string', default: '500' },
  },
});
const SERVICES = Number(values.services);
const HOSTS = Number(values.hosts);
const CHANGES = Math.min(Number(values.changes), SERVICES);
const GAP_MS = Number(values['gap-ms']);

const name = (i: number): string => `svc-${String(i).padStart(4, '0')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items`, `width` at a time. */
async function pool<T>(items: T[], width: number, fn: (t: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++] as T);
    }),
  );
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-mesh-endpoints-'));
const store = await SqliteStore.open(join(dir, 'store.db'));
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  logger: silentLogger,
  hostTtlSeconds: 30,
  auth: { adminToken: TEST_ADMIN_TOKEN },
  store,
  storeName: 'sqlite',
});
const client = new DabbaClient({ addr: server.url, token: TEST_ADMIN_TOKEN });
const stop = new AbortController();
try {
  const hostIds = Array.from({ length: HOSTS }, (_, i) => `bh-${String(i)}`);
  const leases = new Map<string, number>();
  for (const id of hostIds) {
    const r = await client.registerHost({
      id,
      labels: {},
      capacity: { cpu: 10_000, memoryBytes: 2 ** 40, pids: 1_000_000 },
      runtime: 'process',
    });
    leases.set(id, r.lease);
  }
  const beats = (async () => {
    while (!stop.signal.aborted) {
      await sleep(5000);
      for (const [id, lease] of leases) await client.heartbeat(id, lease).catch(() => undefined);
    }
  })();

  const services: Record<string, object> = {};
  for (let i = 0; i < SERVICES; i++) services[name(i)] = {};
  await client.meshApply({ services }, 'bench');
  const t0 = performance.now();
  await pool(
    Array.from({ length: SERVICES }, (_, i) => i),
    16,
    (i) =>
      client.putJob(name(i), {
        name: name(i),
        replicas: 1,
        task: { command: ['sleep', '1000'], resources: { cpu: 0.01, memory: '1Mi', pids: 4 } },
      }),
  );
  // Every job's task placed (its assignment written).
  const tasks = new Map<string, Task>();
  for (;;) {
    tasks.clear();
    for (const id of hostIds) for (const t of (await client.assignments(id)).tasks) tasks.set(t.job, t);
    if (tasks.size >= SERVICES) break;
    await sleep(500);
  }
  process.stderr.write(
    `${String(SERVICES)} services deployed and placed in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
  );

  // The proxies' view: each watcher keeps the time each service got its first endpoint.
  const seen = hostIds.map(() => new Map<string, number>());
  const views = hostIds.map((id, w) =>
    (async () => {
      for await (const view of client.watchHostMesh(id, stop.signal)) {
        const at = performance.now();
        for (const [svc, es] of Object.entries(view.endpoints)) {
          if (es.length > 0 && !seen[w]?.has(svc)) seen[w]?.set(svc, at);
        }
      }
    })().catch(() => undefined),
  );
  await sleep(2000);

  const perWatcher: number[] = [];
  const everyProxy: number[] = [];
  for (let k = 0; k < CHANGES; k++) {
    const svc = name(Math.floor((k * SERVICES) / CHANGES));
    const task = tasks.get(svc);
    if (task === undefined || task.host === null) throw new Error(`no task of ${svc}`);
    const sent = performance.now();
    await client.reportStatus({
      id: task.id,
      job: task.job,
      host: task.host,
      state: 'running',
      healthy: true,
      ready: true,
      restarts: 0,
      address: '10.0.0.1',
      ports: {},
      updatedAt: Date.now(),
    });
    while (!seen.every((m) => m.has(svc))) {
      if (performance.now() - sent > 60_000) throw new Error(`${svc} not seen by every watcher in 60 s`);
      await sleep(2);
    }
    const lat = seen.map((m) => (m.get(svc) ?? 0) - sent);
    perWatcher.push(...lat);
    everyProxy.push(Math.max(...lat));
    await sleep(GAP_MS);
  }
  stop.abort();
  await Promise.all([...views, beats]);

  const row = (label: string, xs: number[]): string[] => {
    const sorted = [...xs].sort((a, b) => a - b);
    return [
      label,
      percentile(sorted, 50).toFixed(1),
      percentile(sorted, 99).toFixed(1),
      (sorted.at(-1) ?? NaN).toFixed(1),
    ];
  };
  process.stdout.write(
    `services ${String(SERVICES)}, hosts (watchers) ${String(HOSTS)}, changes ${String(CHANGES)}; ` +
      `load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}, up ${(uptime() / 3600).toFixed(1)} h\n`,
  );
  table(
    'a task becoming ready -> in the mesh view (ms)',
    ['seen by', 'p50', 'p99', 'max'],
    [row('each proxy', perWatcher), row('every proxy', everyProxy)],
  );
} finally {
  stop.abort();
  await server.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}

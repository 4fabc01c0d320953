/**
 * Fleet scale: places TASKS tasks, in jobs of varied sizes, constraints and spread, on HOSTS
 * simulated hosts through the real server, store (SQLite, in a temp dir) and scheduler, in one
 * process.
 *
 *   node bench/scale.ts [--hosts 10000] [--tasks 100000] [--agents 20] [--timeout 240]
 *   node bench/scale.ts --hosts 1000 --tasks 10000          # quick mode
 *
 * Hosts: every host is registered through the real HTTP API (POST /v1/hosts) with zone, rack and
 * disk labels and one of three sizes. `--agents N` of them are real agents (`startAgent`, each with
 * its own SSE assignment watch, heartbeats and status reports) on a FakeRuntime (the first of them
 * also records host history; the others would sample the same machine again); the rest are kept
 * alive by one shared heartbeat loop (one POST per host per heartbeat interval). The host TTL is
 * raised to 10 minutes for the run so the shared loop needs only a trickle of requests.
 *
 * Figures:
 * - end to end: first PUT /v1/jobs -> every task's assignment stored (counted by a store watch on
 *   /assign/), placements per second;
 * - the allocator's own rate on the same hosts and asks (`allocate()` over all tasks at once, as
 *   bench/allocator-bench.ts does, CPU time);
 * - API latency of a side loop of GET /v1/health and GET /v1/jobs/NAME during the run (p50/p99/max);
 * - process RSS and heap (peak during the run), and CPU seconds used.
 * Next to them: published anchors (their figures, not run here) and the ratio to the goal of
 * 20,000 placements/s.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { startAgent, type RunningAgent } from '../src/agent/index.ts';
import { allocate, type PlacementAsk } from '../src/allocator/index.ts';
import { seededRng } from '../src/allocator/rng.ts';
import { DabbaClient } from '../src/client/index.ts';
import { silentLogger } from '../src/lib/index.ts';
import type { HostView, JobSpec } from '../src/model/index.ts';
import { toUserForm } from '../src/model/files.ts';
import { keys } from '../src/model/index.ts';
import { FakeRuntime } from '../src/runtime/fake/index.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { pct, table } from './report.ts';
import { fleet, jobs, type SimHost } from './scale-fleet.ts';

const GOAL = 20_000;

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isFinite(v) || v < 0) throw new Error(`--${name} needs a number`);
  return v;
}

const HOSTS = arg('hosts', 10_000);
const TASKS = arg('tasks', 100_000);
const AGENTS = Math.min(HOSTS, arg('agents', 20));
const TIMEOUT_MS = arg('timeout', 240) * 1000;
const TTL_SECONDS = 600;

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `fn` over `items` with at most `width` in flight. */
async function pool<T>(
  items: readonly T[],
  width: number,
  fn: (item: T, i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        await fn(items[i]!, i);
      }
    }),
  );
}

/** Starts the AGENTS real agents (into `agents`, for the cleanup) and registers the other hosts through the API. */
async function registerHosts(
  hosts: SimHost[],
  client: DabbaClient,
  dir: string,
  agents: RunningAgent[],
): Promise<{ leases: Map<string, number>; heartbeatMs: number }> {
  const tReg = performance.now();
  const leases = new Map<string, number>();
  let heartbeatMs = (TTL_SECONDS * 1000) / 3;
  for (const h of hosts.slice(0, AGENTS)) {
    // One host history recorder, as on one machine: the others would sample the same /proc.
    const history = agents.length === 0 ? {} : { hostHistory: false as const };
    agents.push(
      await startAgent({
        client,
        runtime: new FakeRuntime(),
        hostId: h.id,
        labels: h.labels,
        capacity: h.capacity,
        dataDir: join(dir, 'agents', h.id),
        logger: silentLogger,
        statsIntervalMs: 60_000,
        ...history,
      }),
    );
  }
  await pool(hosts.slice(AGENTS), 32, async (h) => {
    const r = await client.registerHost({
      id: h.id,
      labels: h.labels,
      capacity: h.capacity,
      runtime: 'fake',
    });
    leases.set(h.id, r.lease);
    heartbeatMs = r.heartbeatMs;
  });
  const regMs = performance.now() - tReg;
  console.log(
    `registered ${fmt(HOSTS)} hosts in ${(regMs / 1000).toFixed(1)} s (${fmt((HOSTS / regMs) * 1000)}/s)`,
  );
  return { leases, heartbeatMs };
}

/** Shared heartbeats: every simulated host once per interval, spread evenly over it. */
function sharedHeartbeats(
  client: DabbaClient,
  leases: Map<string, number>,
  heartbeatMs: number,
  signal: AbortSignal,
): { loop: Promise<void>; sent: () => number } {
  let heartbeats = 0;
  const loop = (async () => {
    const ids = [...leases.keys()];
    const tickMs = 100;
    const perTick = Math.max(1, Math.ceil((ids.length * tickMs) / heartbeatMs));
    let i = 0;
    while (!signal.aborted) {
      await sleep(tickMs);
      const batch = Array.from({ length: perTick }, () => ids[i++ % ids.length]!);
      await Promise.all(
        batch.map((id) =>
          client.heartbeat(id, leases.get(id) ?? 0).then(
            () => {
              heartbeats++;
            },
            () => undefined,
          ),
        ),
      );
    }
  })();
  return { loop, sent: () => heartbeats };
}

/** Counts assignments as the store commits them; `allAssigned` resolves once all TASKS are, at `tDone()`. */
async function watchAssignments(
  store: SqliteStore,
  signal: AbortSignal,
): Promise<{ loop: Promise<void>; assigned: Set<string>; allAssigned: Promise<void>; tDone: () => number }> {
  const start = await store.range('/nothing/');
  const assigned = new Set<string>();
  let tDone = 0;
  const allAssigned = Promise.withResolvers<void>();
  const loop = (async () => {
    try {
      for await (const batch of store.watch(keys.assignmentsPrefix, {
        fromRevision: start.revision + 1,
        signal,
      })) {
        for (const e of batch) {
          if (e.type !== 'put') continue;
          const id = e.kv.key.slice(e.kv.key.lastIndexOf('/') + 1);
          assigned.add(id);
        }
        if (assigned.size >= TASKS && tDone === 0) {
          tDone = performance.now();
          allAssigned.resolve();
        }
      }
    } catch (e) {
      if (!signal.aborted) throw e;
    }
  })();
  return { loop, assigned, allAssigned: allAssigned.promise, tDone: () => tDone };
}

/** Side loop: API latency (into `latencies`) while the fleet is being placed; `probe.job` once one is submitted. */
async function probeLatency(
  server: { url: string; adminToken?: string },
  latencies: number[],
  probe: { job: string },
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    const path = probe.job === '' || latencies.length % 2 === 0 ? '/v1/health' : `/v1/jobs/${probe.job}`;
    const t = performance.now();
    const res = await fetch(server.url + path, {
      headers: { authorization: `Bearer ${server.adminToken ?? ''}` },
    }).catch(() => undefined);
    await res?.arrayBuffer();
    latencies.push(performance.now() - t);
    await sleep(20);
  }
}

/** Check: no host given more than it has (what the API shows once everything is placed). */
async function capacityCheck(client: DabbaClient): Promise<{ over: number; shownTasks: number }> {
  const shown = await client.hosts();
  const over = shown.filter(
    (h) =>
      h.allocated.cpu > h.capacity.cpu + 1e-9 ||
      h.allocated.memoryBytes > h.capacity.memoryBytes ||
      h.allocated.pids > h.capacity.pids,
  ).length;
  if (process.env['SCALE_DEBUG'])
    for (const h of shown)
      if (h.allocated.cpu > h.capacity.cpu + 1e-9 || h.allocated.memoryBytes > h.capacity.memoryBytes)
        console.log(h.id, h.capacity, h.allocated, h.tasks);
  const shownTasks = shown.reduce((a, h) => a + h.tasks, 0);
  return { over, shownTasks };
}

/** 5. The allocator alone, on the same hosts and asks (after the run: it does not compete). */
function allocatorAlone(
  hosts: SimHost[],
  specs: JobSpec[],
): { alloc: ReturnType<typeof allocate>; allocWall: number; allocCpuMs: number; allocRate: number } {
  const views: HostView[] = hosts.map((h) => ({
    id: h.id,
    state: 'ready',
    labels: h.labels,
    capacity: h.capacity,
    allocated: { cpu: 0, memoryBytes: 0, pids: 0 },
    runtime: 'fake',
    registeredAt: 0,
    tasks: 0,
  }));
  const asks: PlacementAsk[] = specs.flatMap((s) =>
    Array.from({ length: s.replicas }, (_, i) => ({
      job: s.name,
      task: `${s.name}-${i}`,
      resources: s.task.resources,
      ports: s.task.ports,
      placement: s.placement,
    })),
  );
  allocate({ hosts: views, tasks: asks, seed: 1 }); // warm-up
  const c0 = process.cpuUsage();
  const ta = performance.now();
  const alloc = allocate({ hosts: views, tasks: asks, seed: 2 });
  const allocWall = performance.now() - ta;
  const ac = process.cpuUsage(c0);
  const allocCpuMs = (ac.user + ac.system) / 1000;
  const allocRate = (alloc.placements.size / allocCpuMs) * 1000;
  return { alloc, allocWall, allocCpuMs, allocRate };
}

interface Figures {
  specs: JobSpec[];
  assigned: Set<string>;
  timedOut: boolean;
  tSubmitted: number;
  t0: number;
  e2eMs: number;
  e2eRate: number;
  allocRate: number;
  allocCpuMs: number;
  allocWall: number;
  alloc: ReturnType<typeof allocate>;
  sorted: number[];
  cpu: NodeJS.CpuUsage;
  /** Event loop utilization over the run: the API's thread (scheduler included) and the store's. */
  busy: { api: number; store: number };
  peakRss: number;
  peakHeap: number;
  over: number;
  shownTasks: number;
  heartbeats: number;
  running: number;
}

/** The run's figures, then the published anchors and the goal. */
function report(f: Figures): void {
  const { specs, assigned, timedOut, tSubmitted, t0, e2eMs, e2eRate, allocRate, allocCpuMs, allocWall } = f;
  const { alloc, sorted, cpu, busy, peakRss, peakHeap, over, shownTasks, heartbeats, running } = f;
  table(
    `Fleet scale: ${fmt(specs.length)} jobs (1..1,000 replicas), ${fmt(TASKS)} tasks, ${fmt(HOSTS)} hosts`,
    ['figure', 'value'],
    [
      [
        'tasks placed (assignment stored)',
        `${fmt(assigned.size)} / ${fmt(TASKS)}${timedOut ? ' (timed out)' : ''}`,
      ],
      ['jobs submitted (all PUTs answered) after', `${((tSubmitted - t0) / 1000).toFixed(2)} s`],
      ['first PUT -> last assignment stored', `${(e2eMs / 1000).toFixed(2)} s`],
      ['end-to-end placements/s', fmt(e2eRate)],
      [
        'allocator alone: placements/s (CPU time)',
        `${fmt(allocRate)} (${fmt(allocCpuMs)} ms cpu, ${fmt(allocWall)} ms wall)`,
      ],
      ['allocator alone: placed / unplaced', `${fmt(alloc.placements.size)} / ${fmt(alloc.failures.size)}`],
      [
        'API latency p50 / p99 / max (health, job)',
        `${pct(sorted, 50).toFixed(1)} / ${pct(sorted, 99).toFixed(1)} / ${(sorted.at(-1) ?? NaN).toFixed(1)} ms (${fmt(sorted.length)} requests)`,
      ],
      [
        'process CPU during the run',
        `${((cpu.user + cpu.system) / 1e6).toFixed(1)} s (${((cpu.user + cpu.system) / 1000 / e2eMs).toFixed(2)} cores)`,
      ],
      [
        'event loop busy: API thread (with the scheduler) / store thread',
        `${(busy.api * 100).toFixed(0)}% / ${(busy.store * 100).toFixed(0)}%`,
      ],
      ['peak RSS / peak heap used', `${fmt(peakRss / 2 ** 20)} MiB / ${fmt(peakHeap / 2 ** 20)} MiB`],
      ['check: hosts over capacity / tasks on hosts (GET /v1/hosts)', `${over} / ${fmt(shownTasks)}`],
      ['heartbeats sent by the shared loop', fmt(heartbeats)],
      [`tasks running on the ${AGENTS} real agents`, fmt(running)],
    ],
  );
  table(
    'Against published anchors (their figures, not run here) and the goal',
    ['system', 'placements/s', 'dabba end to end / it'],
    [
      ['Kubernetes scheduler, 5,000 nodes', 100, `${(e2eRate / 100).toFixed(1)}x`],
      ['Nomad C1M (1M containers, 5,000 hosts)', fmt(3750), `${(e2eRate / 3750).toFixed(2)}x`],
      ['goal: 20,000/s on this 2-core machine', fmt(GOAL), `${(e2eRate / GOAL).toFixed(3)}x`],
      ['dabba end to end (this run)', fmt(e2eRate), '1x'],
      ['dabba allocator alone (this run)', fmt(allocRate), `${(allocRate / e2eRate).toFixed(1)}x of e2e`],
    ],
  );
}

async function main(): Promise<void> {
  console.log(
    `Fleet scale: ${fmt(TASKS)} tasks on ${fmt(HOSTS)} hosts (${AGENTS} real agents on a fake runtime); ` +
      `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`,
  );
  const hosts = fleet(HOSTS, seededRng(1));
  const specs = jobs(TASKS, seededRng(2));
  const dir = await mkdtemp(join(tmpdir(), 'dabba-scale-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const server = await startServer({
    store,
    storeName: 'sqlite',
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    hostTtlSeconds: TTL_SECONDS,
  });
  const client = new DabbaClient({ token: server.adminToken ?? '', addr: server.url, timeoutMs: 120_000 });
  const stop = new AbortController();
  const agents: RunningAgent[] = [];
  const loops: Promise<void>[] = [];
  try {
    // 1. Hosts: the first AGENTS are real agents, the rest registered through the API.
    const { leases, heartbeatMs } = await registerHosts(hosts, client, dir, agents);
    const heartbeats = sharedHeartbeats(client, leases, heartbeatMs, stop.signal);
    loops.push(heartbeats.loop);

    // 2. Count assignments as the store commits them.
    const placed = await watchAssignments(store, stop.signal);
    loops.push(placed.loop);
    const { assigned } = placed;
    let t0 = 0;

    // 3. Side loop: API latency while the fleet is being placed.
    const latencies: number[] = [];
    const probe = { job: '' };
    loops.push(probeLatency(server, latencies, probe, stop.signal));

    // Memory, sampled.
    let peakRss = 0;
    let peakHeap = 0;
    const sampleMemory = (): void => {
      const m = process.memoryUsage();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
    };
    const memTimer = setInterval(sampleMemory, 250);

    // 4. Submit the jobs.
    const cpu0 = process.cpuUsage();
    const busy0 = { api: performance.eventLoopUtilization(), store: store.threadUtilization() };
    t0 = performance.now();
    let tSubmitted = 0;
    const progress = setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      console.log(`  ${s.toFixed(0)} s: ${fmt(assigned.size)} placed`);
    }, 10_000);
    await pool(specs, 8, async (spec) => {
      await client.putJob(spec.name, toUserForm(spec));
      if (probe.job === '') probe.job = spec.name;
    });
    tSubmitted = performance.now();
    let deadline: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      placed.allAssigned.then(() => false),
      new Promise<boolean>(
        (r) => (deadline = setTimeout(() => r(true), Math.max(0, TIMEOUT_MS - (tSubmitted - t0)))),
      ),
    ]);
    clearTimeout(deadline);
    const tEnd = timedOut ? performance.now() : placed.tDone();
    clearInterval(progress);
    sampleMemory();
    clearInterval(memTimer);
    const cpu = process.cpuUsage(cpu0);
    const busy = {
      api: performance.eventLoopUtilization(busy0.api).utilization,
      store: performance.eventLoopUtilization(store.threadUtilization(), busy0.store).utilization,
    };
    const e2eMs = tEnd - t0;
    const e2eRate = (assigned.size / e2eMs) * 1000;
    const sorted = [...latencies].sort((a, b) => a - b);
    const running = agents.reduce((a, g) => a + g.tasks().length, 0);
    const { over, shownTasks } = await capacityCheck(client);
    const { alloc, allocWall, allocCpuMs, allocRate } = allocatorAlone(hosts, specs);
    report({
      ...{ specs, assigned, timedOut, tSubmitted, t0, e2eMs, e2eRate, allocRate, allocCpuMs, allocWall },
      ...{ alloc, sorted, cpu, busy, peakRss, peakHeap, over, shownTasks, running },
      heartbeats: heartbeats.sent(),
    });
  } finally {
    const tc = performance.now();
    const step = (what: string): void => {
      if (process.env['SCALE_DEBUG'])
        console.log(`cleanup: ${what} at ${(performance.now() - tc).toFixed(0)} ms`);
    };
    stop.abort();
    await Promise.allSettled(loops);
    step('loops');
    await Promise.allSettled(agents.map((a) => a.close()));
    step('agents');
    await server.close();
    step('server');
    await store.close();
    step('store');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();

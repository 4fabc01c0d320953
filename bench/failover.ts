/**
 * Control-plane failover and API write throughput, with real `dabba server` processes on a real
 * 3-member etcd cluster (test/helpers/etcd-cluster.ts) and a fake agent that reports tasks through the
 * API (test/ha/helpers.ts).
 *
 * 1. Failover: a rolling update of 4 tasks (maxSurge 1) is under way; the replica owning the job's
 *    shard is killed with SIGKILL; measured: kill -> the next task of the rollout created by the new
 *    owner, split into kill -> lease expiry (the owner's /servers key deleted by etcd) and expiry ->
 *    next task. Compared with the anchors: Borg's ~10 s master failover and the 5 s goal.
 * 2. API write throughput: PUT /v1/jobs/NAME (a new version each time) from concurrent clients, with
 *    1 and with 3 replicas, against a baseline run alongside: the same compare-and-swap written
 *    straight to etcd through one EtcdStore (no HTTP, no validation, no scheduler).
 *
 *   node bench/failover.ts [--runs 5] [--puts 1500] [--concurrency 16]
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DabbaClient } from '../src/client/index.ts';
import type { ServersView, Task } from '../src/model/index.ts';
import { shardOf } from '../src/server/shards/index.ts';
import { EtcdStore } from '../src/store/etcd/index.ts';
import { startEtcdCluster, type EtcdCluster } from '../test/helpers/etcd-cluster.ts';
import { FakeAgent, rollingJob, waitFor } from '../test/ha/helpers.ts';
import { ServerProcs, type ServerProc } from '../test/ha/server-procs.ts';
import { TEST_ADMIN_TOKEN } from '../test/helpers/auth.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : NaN;
  return Number.isFinite(v) && v > 0 ? v : dflt;
}
const RUNS = process.argv.includes('--no-failover') ? 0 : arg('runs', 5);
const PUTS = arg('puts', 1500);
const CONCURRENCY = arg('concurrency', 16);
const SHARDS = 16;
const QUIET = { DABBA_LOG_LEVEL: 'warn' };

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}
const sec = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

function storeUrl(cluster: EtcdCluster, ns: string): string {
  return `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${ns}`;
}

interface FailoverRun {
  totalMs: number;
  expiryMs: number;
  takeoverMs: number;
}

async function failoverRun(cluster: EtcdCluster): Promise<FailoverRun> {
  const ns = `/bench-${randomUUID().slice(0, 8)}`;
  const procs = new ServerProcs();
  const done = new AbortController();
  const observer = await EtcdStore.connect(cluster.endpoints, { namespace: ns });
  let agent: FakeAgent | undefined;
  try {
    const servers: ServerProc[] = [];
    for (let i = 0; i < 3; i++) servers.push(await procs.start(storeUrl(cluster, ns), QUIET));
    const created: { version: number; at: number }[] = [];
    const deleted = new Map<string, number>();
    const from = (await observer.revision()) + 1;
    void (async () => {
      for await (const batch of observer.watch('/', { fromRevision: from, signal: done.signal })) {
        const at = performance.now();
        for (const e of batch) {
          if (e.kv.key.startsWith('/tasks/web/') && e.type === 'put' && e.kv.version === 1)
            created.push({ version: (JSON.parse(e.kv.value) as Task).version, at });
          if (e.kv.key.startsWith('/servers/') && e.type === 'delete') deleted.set(e.kv.key, at);
        }
      }
    })().catch(() => undefined);
    const client = new DabbaClient({
      token: TEST_ADMIN_TOKEN,
      addr: servers.map((s) => s.url),
      timeoutMs: 10_000,
    });
    await waitFor(
      '3 replicas',
      async () => {
        const v = await client.servers();
        return v.replicas.length === 3 && v.unowned.length === 0;
      },
      20_000,
    );
    agent = new FakeAgent({ addrs: servers.map((s) => s.url), hostId: 'h1', startDelayMs: 100 });
    await agent.start();
    const rolled = (version: number) =>
      waitFor(
        `v${version}`,
        async () => {
          const v = await client.getJob('web');
          return v.version === version && v.deployment?.state === 'succeeded';
        },
        60_000,
        50,
      );
    await client.putJob('web', rollingJob('web', 4, 'v1'));
    await rolled(1);
    await client.putJob('web', rollingJob('web', 4, 'v2'));
    await waitFor('first v2 task', () => created.some((c) => c.version === 2), 10_000, 5);
    const v: ServersView = await client.servers();
    const owner = v.replicas.find((r) => r.shards.includes(shardOf('web', SHARDS)));
    const victim = servers.find((s) => s.url === owner?.url);
    if (!victim || owner === undefined) throw new Error('no owner');
    const killedAt = performance.now();
    await victim.kill9();
    const next = await waitFor(
      'rollout resumed',
      () => created.find((c) => c.version === 2 && c.at > killedAt),
      30_000,
      5,
    );
    const expiredAt = deleted.get(`/servers/${owner.id}`) ?? NaN;
    await rolled(2);
    return { totalMs: next.at - killedAt, expiryMs: expiredAt - killedAt, takeoverMs: next.at - expiredAt };
  } finally {
    done.abort();
    await agent?.stop();
    await procs.stopAll();
    await observer.close();
  }
}

interface Throughput {
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU ms per PUT of the dabba server processes, and of the etcd members. */
  serverCpuMs?: number;
  etcdCpuMs?: number;
}

/** utime + stime of a process, in ms (clock ticks of 10 ms). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

const sumCpu = (pids: (number | undefined)[]): number => pids.reduce<number>((a, p) => a + cpuMs(p), 0);

async function drive(n: number, concurrency: number, one: (i: number) => Promise<void>): Promise<Throughput> {
  const lat: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < n; i = next++) {
        const s = performance.now();
        await one(i);
        lat.push(performance.now() - s);
      }
    }),
  );
  const ms = performance.now() - t0;
  return { perSecond: (n / ms) * 1000, p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function apiThroughput(cluster: EtcdCluster, replicas: number): Promise<Throughput> {
  const ns = `/bench-${randomUUID().slice(0, 8)}`;
  const procs = new ServerProcs();
  try {
    const servers: ServerProc[] = [];
    for (let i = 0; i < replicas; i++) servers.push(await procs.start(storeUrl(cluster, ns), QUIET));
    const clients = servers.map((s) => new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: s.url }));
    await waitFor('replicas up', async () => (await clients[0]?.servers())?.unowned.length === 0, 20_000);
    // Warm-up: create the jobs.
    for (let j = 0; j < 20; j++) await clients[0]?.putJob(`j${j}`, rollingJob(`j${j}`, 1, 'warm'));
    const etcdPids = cluster.members.map((m) => m.pid);
    const s0 = sumCpu(servers.map((s) => s.pid));
    const e0 = sumCpu(etcdPids);
    const t = await drive(PUTS, CONCURRENCY, async (i) => {
      const c = clients[i % clients.length] as DabbaClient;
      const name = `j${i % 20}`;
      await c.putJob(name, rollingJob(name, 1, `v${i}`));
    });
    // Let the schedulers finish what the PUTs started before reading the CPU counters.
    await new Promise((r) => setTimeout(r, 2000));
    return {
      ...t,
      serverCpuMs: (sumCpu(servers.map((s) => s.pid)) - s0) / PUTS,
      etcdCpuMs: (sumCpu(etcdPids) - e0) / PUTS,
    };
  } finally {
    await procs.stopAll();
  }
}

/** The same compare-and-swap (job record + version record, fenced on the record) straight to etcd. */
async function etcdBaseline(cluster: EtcdCluster): Promise<Throughput> {
  const store = await EtcdStore.connect(cluster.endpoints, {
    namespace: `/bench-${randomUUID().slice(0, 8)}`,
  });
  const etcdPids = cluster.members.map((m) => m.pid);
  const e0 = sumCpu(etcdPids);
  try {
    const t = await drive(PUTS, CONCURRENCY, async (i) => {
      const key = `/jobs/j${i % 20}`;
      for (;;) {
        const cur = await store.get(key);
        const version = (cur?.version ?? 0) + 1;
        const r = await store.txn({
          compare: [{ key, target: 'mod', op: '=', modRevision: cur?.modRevision ?? 0 }],
          success: [
            { type: 'put', key, value: JSON.stringify({ version, i }) },
            { type: 'put', key: `/jobversions/j${i % 20}/${version}`, value: JSON.stringify({ i }) },
          ],
        });
        if (r.succeeded) return;
      }
    });
    return { ...t, etcdCpuMs: (sumCpu(etcdPids) - e0) / PUTS };
  } finally {
    await store.close();
  }
}

function printFailover(runs: FailoverRun[]): void {
  const total = runs.map((r) => r.totalMs);
  console.log('\n| failover (kill -9 of the shard owner -> next rollout task) | p50 | max |');
  console.log('|---|---:|---:|');
  console.log(`| total, ${RUNS} runs | ${sec(pct(total, 50))} | ${sec(Math.max(...total))} |`);
  const exp = runs.map((r) => r.expiryMs);
  const take = runs.map((r) => r.takeoverMs);
  console.log(`| of which: kill -> lease expired | ${sec(pct(exp, 50))} | ${sec(Math.max(...exp))} |`);
  console.log(
    `| of which: expiry -> next task by the new owner | ${sec(pct(take, 50))} | ${sec(Math.max(...take))} |`,
  );
  console.log(
    `| vs Borg ~10 s anchor / 5 s goal (p50) | ${(pct(total, 50) / 10_000).toFixed(2)}x / ${(pct(total, 50) / 5000).toFixed(2)}x | ${(Math.max(...total) / 10_000).toFixed(2)}x / ${(Math.max(...total) / 5000).toFixed(2)}x |`,
  );
}

async function main(): Promise<void> {
  const cluster = await startEtcdCluster({ members: 3 });
  try {
    console.log(`etcd: 3 members on tmpfs; dabba server lease TTL 5 s (default), ${SHARDS} shards\n`);
    const runs: FailoverRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await failoverRun(cluster);
      runs.push(r);
      console.log(
        `failover run ${i + 1}: ${sec(r.totalMs)} (lease expiry ${sec(r.expiryMs)}, then next task ${sec(r.takeoverMs)})`,
      );
    }
    if (runs.length > 0) printFailover(runs);

    const base = await etcdBaseline(cluster);
    const one = await apiThroughput(cluster, 1);
    const three = await apiThroughput(cluster, 3);
    console.log(
      `\n| ${PUTS} job-version PUTs, ${CONCURRENCY} concurrent | per second | p50 | p99 | vs baseline | CPU/PUT, dabba | CPU/PUT, etcd |`,
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    for (const [name, t] of [
      ['baseline: the same CAS straight to etcd', base],
      ['API, 1 replica', one],
      ['API, 3 replicas (clients spread)', three],
    ] as const) {
      console.log(
        `| ${name} | ${t.perSecond.toFixed(0)} | ${t.p50.toFixed(1)} ms | ${t.p99.toFixed(1)} ms | ${(t.perSecond / base.perSecond).toFixed(2)}x | ${t.serverCpuMs === undefined ? '-' : `${t.serverCpuMs.toFixed(1)} ms`} | ${(t.etcdCpuMs ?? 0).toFixed(1)} ms |`,
      );
    }
  } finally {
    await cluster.stop();
  }
}

await main();

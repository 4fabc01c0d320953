/**
 * Shard ownership among several server replicas on ONE real SQLite store (in this process): spread,
 * hand-over when a replica leaves, crashes, joins or loses its lease, and the fence that refuses the
 * writes of a replica that lost a shard.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { silentLogger, systemClock } from '../../src/lib/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { haKeys, shardOf, trimEvents, type ShardRecord } from '../../src/server/shards/index.ts';
import { SchedulerLoop } from '../../src/server/scheduler-loop.ts';
import { EventLog } from '../../src/server/state/events.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { cli } from '../helpers/dev-cluster.ts';
import { FakeAgent, RecordingStore, rollingJob, waitFor } from './helpers.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';

const SHARDS = 16;

interface Cluster {
  store: SqliteStore;
  servers: RunningServer[];
  recs: RecordingStore[];
  client: DabbaClient;
  add(
    id: string,
    options?: { ttl?: number; keepEvents?: number; brokerIntervalMs?: number },
  ): Promise<RunningServer>;
}

async function cluster(
  t: TestContext,
  ids: string[],
  options: { ttl?: number; keepEvents?: number; brokerIntervalMs?: number } = {},
): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-ha-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const c: Cluster = {
    store,
    servers: [],
    recs: [],
    client: undefined as unknown as DabbaClient,
    async add(id, o = {}) {
      const rec = new RecordingStore(store);
      const s = await startServer({
        auth: { adminToken: TEST_ADMIN_TOKEN },
        store: rec.store,
        storeName: 'sqlite:shared',
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger,
        replicaId: id,
        shardCount: SHARDS,
        leaseTtlSeconds: o.ttl ?? options.ttl ?? 2,
        hostTtlSeconds: 30,
        ...((o.keepEvents ?? options.keepEvents) ? { keepEvents: o.keepEvents ?? options.keepEvents } : {}),
        ...((o.brokerIntervalMs ?? options.brokerIntervalMs)
          ? { brokerIntervalMs: o.brokerIntervalMs ?? options.brokerIntervalMs }
          : {}),
      });
      c.servers.push(s);
      c.recs.push(rec);
      return s;
    },
  };
  t.after(async () => {
    for (const rec of c.recs) rec.thawRenewals();
    await Promise.allSettled(c.servers.map((s) => s.close()));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const id of ids) await c.add(id);
  c.client = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: c.servers.map((s) => s.url) });
  return c;
}

/** Owner of each shard according to the replicas' own belief; fails if two claim one. */
function claims(servers: RunningServer[]): Map<number, string> {
  const owner = new Map<number, string>();
  for (const s of servers) {
    for (const shard of s.replica.ownedShards()) {
      assert.equal(
        owner.get(shard),
        undefined,
        `shard ${shard} claimed by ${owner.get(shard)} and ${s.replica.id}`,
      );
      owner.set(shard, s.replica.id);
    }
  }
  return owner;
}

function countsOf(servers: RunningServer[]): number[] {
  return servers.map((s) => s.replica.ownedShards().length).sort((a, b) => a - b);
}

async function settled(servers: RunningServer[], counts: number[], timeoutMs = 8000): Promise<number> {
  const t0 = performance.now();
  await waitFor(
    `shard counts ${counts.join('/')} (now ${countsOf(servers).join('/')})`,
    () => claims(servers).size === SHARDS && countsOf(servers).join() === counts.join(),
    timeoutMs,
    20,
  );
  return performance.now() - t0;
}

test('three replicas: every shard owned exactly once, spread 5/5/6; one broker; GET /v1/servers and `dabba servers`', async (t) => {
  const c = await cluster(t, ['r1', 'r2', 'r3']);
  await settled(c.servers, [5, 5, 6]);
  const v = await waitFor('the API view', async () => {
    const v = await c.client.servers();
    return v.unowned.length === 0 && v.broker !== null ? v : undefined;
  });
  assert.equal(v.shards, SHARDS);
  assert.deepEqual(
    v.replicas.map((r) => r.id),
    ['r1', 'r2', 'r3'],
  );
  assert.deepEqual(v.replicas.map((r) => r.shards.length).sort(), [5, 5, 6]);
  assert.deepEqual(
    v.replicas.flatMap((r) => r.shards).sort((a, b) => a - b),
    Array.from({ length: SHARDS }, (_, i) => i),
  );
  assert.equal(v.replicas.filter((r) => r.broker).length, 1);
  assert.equal(v.replicas.filter((r) => r.self).length, 1);
  assert.equal(v.store.ok, true);
  assert.ok(v.store.revision > 0);
  for (const r of v.replicas) {
    const s = c.servers.find((x) => x.replica.id === r.id);
    assert.equal(r.url, s?.url);
    assert.deepEqual(r.shards, s?.replica.ownedShards());
    assert.equal(r.broker, s?.replica.ownsBroker());
  }
  // Each replica answers, and says which one it is.
  const fromR2 = await new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: c.servers[1]?.url ?? '' }).servers();
  assert.deepEqual(
    fromR2.replicas.filter((r) => r.self).map((r) => r.id),
    ['r2'],
  );

  const table = await cli(['servers'], { addr: c.servers[0]?.url ?? '' });
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /^REPLICA\s+URL\s+COUNT\s+SHARDS\s+BROKER\s+UP$/m);
  assert.match(table.stdout, /^r1 \(this\)\s+http:\/\/127\.0\.0\.1:\d+\s+[56]\s/m);
  assert.match(table.stdout, /^r3\s/m);
  assert.match(table.stdout, /shards: 16, all owned/);
  assert.match(table.stdout, /store: sqlite:shared ok, revision \d+/);
  const json = await cli(['servers', '--json'], { addr: c.servers[2]?.url ?? '' });
  assert.equal(json.code, 0, json.stderr);
  const parsed = JSON.parse(json.stdout) as typeof v;
  assert.equal(parsed.replicas.length, 3);
  assert.deepEqual(parsed.unowned, []);
});

test('each job is scheduled only by the owner of its shard, once', async (t) => {
  const c = await cluster(t, ['r1', 'r2', 'r3']);
  await settled(c.servers, [5, 5, 6]);
  const agent = new FakeAgent({ addrs: c.servers.map((s) => s.url), hostId: 'h1', startDelayMs: 50 });
  await agent.start();
  t.after(() => agent.stop());
  const jobs = Array.from({ length: 8 }, (_, i) => `job${i}`);
  for (const [i, name] of jobs.entries()) {
    // Any replica takes any write.
    const client = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: c.servers[i % 3]?.url ?? '' });
    await client.putJob(name, rollingJob(name, 2, 'v1'));
  }
  for (const name of jobs) {
    await waitFor(`${name} running`, async () => {
      const v = await c.client.getJob(name);
      return v.deployment?.state === 'succeeded' ? v : undefined;
    });
  }
  let plans = 0;
  for (const [i, rec] of c.recs.entries()) {
    const id = c.servers[i]?.replica.id;
    for (const tx of rec.txns.filter((x) => x.result.succeeded)) {
      const fence = tx.request.compare.find((x) => x.target === 'value' && /^\/shards\/\d+$/.test(x.key));
      if (fence?.target !== 'value') continue;
      const job =
        tx.request.compare.find((x) => x.key.startsWith('/jobs/'))?.key.slice('/jobs/'.length) ?? '';
      assert.equal(fence.key, haKeys.shard(shardOf(job, SHARDS)), `plan for ${job} fenced on its shard`);
      assert.equal(
        (JSON.parse(fence.value) as ShardRecord).owner,
        id,
        `plan for ${job} fenced as its writer's`,
      );
      plans++;
    }
  }
  assert.ok(plans >= jobs.length, `plans written: ${plans}`);
  for (const name of jobs) {
    const tasks = await c.client.jobTasks(name);
    assert.equal(tasks.length, 2, `${name}: exactly 2 tasks`);
  }
  assert.equal([...agent.seen.keys()].length, 16, 'no task created twice');
});

test('two replicas placing jobs of different shards never fill the same capacity', async (t) => {
  const c = await cluster(t, ['r1', 'r2']);
  await settled(c.servers, [8, 8]);
  const [r1, r2] = c.servers as [RunningServer, RunningServer];
  // r2 sees changes 300 ms late: it decides from state that lacks r1's latest placements.
  (c.recs[1] as RecordingStore).watchDelayMs = 300;
  // Jobs whose shards belong to different replicas, each asking for 60% of the only host.
  const names = Array.from({ length: 200 }, (_, i) => `big${i}`);
  const pairs: [string, string][] = [];
  for (let i = 0; i < 3; i++) {
    const a = names.find(
      (n) => r1.replica.ownedShards().includes(shardOf(n, SHARDS)) && !pairs.flat().includes(n),
    );
    const b = names.find(
      (n) => r2.replica.ownedShards().includes(shardOf(n, SHARDS)) && !pairs.flat().includes(n),
    );
    assert.ok(a && b);
    pairs.push([a, b]);
  }
  for (const [i, [a, b]] of pairs.entries()) {
    // Both jobs wait unplaced; the host appears, and both owners decide on the same event.
    await c.client.putJob(a, rollingJob(a, 1, 'x', 0.6));
    await c.client.putJob(b, rollingJob(b, 1, 'x', 0.6));
    await waitFor('both unplaced', async () => {
      const t1 = await c.client.jobTasks(a);
      const t2 = await c.client.jobTasks(b);
      return t1.length === 1 && t2.length === 1;
    });
    const host = `small${i}`;
    const agent = new FakeAgent({
      addrs: [r1.url],
      hostId: host,
      capacity: { cpu: 1, memoryBytes: 2 ** 30, pids: 1000 },
    });
    await agent.start();
    t.after(() => agent.stop());
    await new Promise((r) => setTimeout(r, 1500));
    const placed = [...(await c.client.jobTasks(a)), ...(await c.client.jobTasks(b))].filter(
      (x) => x.host === host,
    );
    assert.equal(placed.length, 1, `one of ${a} and ${b} fits on ${host}, not both`);
    await c.client.stopJob(a);
    await c.client.stopJob(b);
    await c.client.setHostSchedulable(host, 'cordon');
  }
});

test('a replica that leaves, crashes or joins: shards move within TTL + a few seconds', async (t) => {
  const ttl = 1;
  const c = await cluster(t, ['r1', 'r2', 'r3'], { ttl });
  const [r1, r2, r3] = c.servers as [RunningServer, RunningServer, RunningServer];
  await settled(c.servers, [5, 5, 6]);

  // Crash: nothing released; its lease must expire first.
  await r1.close({ release: false });
  const crashMs = await settled([r2, r3], [8, 8], ttl * 1000 + 5000);
  assert.ok(crashMs < ttl * 1000 + 3000, `taken over ${crashMs.toFixed(0)} ms after the crash`);

  // Leaving: the lease is revoked, shards move at once.
  await r2.close();
  const leaveMs = await settled([r3], [16], 5000);
  assert.ok(leaveMs < 2000, `taken over ${leaveMs.toFixed(0)} ms after leaving`);
  assert.equal(r3.replica.ownsBroker(), true);

  // Joining: the old owner gives back what is beyond its share.
  const r4 = await c.add('r4');
  const joinMs = await settled([r3, r4], [8, 8], 8000);
  assert.ok(joinMs < 3000, `rebalanced ${joinMs.toFixed(0)} ms after the join`);
});

test('lease revoked behind its back: the replica stops, its fenced writes are refused, it rejoins as a newcomer', async (t) => {
  const c = await cluster(t, ['r1', 'r2', 'r3'], { ttl: 2 });
  await settled(c.servers, [5, 5, 6]);
  const agent = new FakeAgent({ addrs: c.servers.map((s) => s.url), hostId: 'h1', startDelayMs: 50 });
  await agent.start();
  t.after(() => agent.stop());

  // The victim owns the shard of "web".
  const shard = shardOf('web', SHARDS);
  const vi = c.servers.findIndex((s) => s.replica.ownedShards().includes(shard));
  const victim = c.servers[vi] as RunningServer;
  const rec = c.recs[vi] as RecordingStore;
  const fence = victim.replica.fenceFor('web');
  assert.ok(fence, 'the owner has a fence for the job');
  const oldLease = victim.replica.membership.lease?.id;
  assert.ok(oldLease);

  await c.client.putJob('web', rollingJob('web', 3, 'v1'));
  await waitFor('web v1 placed', async () => (await c.client.jobTasks('web')).length === 3);
  // A rolling update is under way when the lease goes.
  await c.client.putJob('web', rollingJob('web', 3, 'v2'));
  await c.store.revokeLease(oldLease);
  const revokedAt = await c.store.revision();

  // The fence of the lost shard refuses a write, whoever sends it.
  const forged = await c.store.txn({
    compare: fence.compares,
    success: [{ type: 'put', key: '/tasks/web/web-forged', value: '{}' }],
  });
  assert.equal(forged.succeeded, false, 'a write fenced on a lost shard is refused');
  assert.equal(await c.store.get('/tasks/web/web-forged'), undefined);

  // It noticed, stopped acting and registered again with a new lease.
  await waitFor('victim re-registered', () => victim.replica.membership.registrations >= 2, 8000);
  assert.notEqual(victim.replica.membership.lease?.id, oldLease);
  assert.equal(victim.replica.fenceForShard(shard)?.lease === oldLease, false);

  // The rollout completes, with each new task created once.
  await waitFor(
    'web v2 rolled out',
    async () => {
      const v = await c.client.getJob('web');
      return v.version === 2 && v.deployment?.state === 'succeeded' ? v : undefined;
    },
    20_000,
  );
  const tasks = await c.client.jobTasks('web');
  assert.equal(tasks.length, 3);
  assert.ok(tasks.every((x) => x.version === 2));
  assert.equal([...agent.seen.values()].filter((v) => v === 2).length, 3, 'every v2 task created once');

  // No split brain: no plan of the victim fenced by its old lease succeeded after the revocation.
  const late = rec
    .plansWritten()
    .filter((p) => (JSON.parse(p.shardValue) as ShardRecord).lease === oldLease && p.revision > revokedAt);
  assert.deepEqual(late, []);
  // As a newcomer it gets a fair share again.
  await settled(c.servers, [5, 5, 6]);
});

test('a scheduler that has not noticed it lost the shard: every plan it writes is refused by the fence', async (t) => {
  const c = await cluster(t, ['r1', 'r2']);
  await settled(c.servers, [8, 8]);
  const agent = new FakeAgent({ addrs: c.servers.map((s) => s.url), hostId: 'h1', startDelayMs: 50 });
  await agent.start();
  t.after(() => agent.stop());
  const shard = shardOf('web', SHARDS);
  const owner = c.servers.find((s) => s.replica.ownedShards().includes(shard)) as RunningServer;
  const stale = owner.replica.fenceFor('web');
  assert.ok(stale);
  // The owner loses its lease; a replica that would not notice keeps this fence and goes on.
  await c.store.revokeLease(owner.replica.membership.lease?.id ?? 0);
  const rec = new RecordingStore(c.store);
  const controller = new AbortController();
  const zombie = new SchedulerLoop({
    store: rec.store,
    clock: systemClock,
    logger: silentLogger,
    events: new EventLog(rec.store, systemClock),
    ownership: { fenceFor: () => stale },
    replicaId: 'zombie',
  });
  const running = zombie.run(controller.signal);
  t.after(async () => {
    controller.abort();
    await running;
  });
  await c.client.putJob('web', rollingJob('web', 3, 'v1'));
  await waitFor('web rolled out by the new owner', async () => {
    const v = await c.client.getJob('web');
    return v.deployment?.state === 'succeeded' ? v : undefined;
  });
  await waitFor('the zombie tried', () => rec.txns.length > 0);
  await new Promise((r) => setTimeout(r, 500));
  const fenced = rec.txns.filter((x) => x.request.compare.some((cmp) => cmp.key === haKeys.shard(shard)));
  assert.ok(fenced.length > 0, 'the zombie wrote plans with its stale fence');
  assert.deepEqual(
    fenced.filter((x) => x.result.succeeded),
    [],
    'none was accepted',
  );
  assert.equal((await c.client.jobTasks('web')).length, 3, 'no task created twice');
  assert.equal(agent.seen.size, 3);
});

test('renewals frozen (as under SIGSTOP): the replica stops acting before anyone takes its shards', async (t) => {
  const ttl = 1;
  const c = await cluster(t, ['r1', 'r2', 'r3'], { ttl });
  await settled(c.servers, [5, 5, 6]);
  const victim = c.servers[0] as RunningServer;
  const rec = c.recs[0] as RecordingStore;
  const others = c.servers.slice(1);
  const victimShards = new Set(victim.replica.ownedShards());
  const oldLease = victim.replica.membership.lease?.id;
  let stoppedAt: number | undefined;
  let takenAt: number | undefined;
  victim.replica.onChange((ch) => {
    if (ch.lost.length > 0 && stoppedAt === undefined && ch.reason.startsWith('lease lost'))
      stoppedAt = ch.at;
  });
  for (const o of others)
    o.replica.onChange((ch) => {
      if (takenAt === undefined && ch.acquired.some((s) => typeof s === 'number' && victimShards.has(s)))
        takenAt = ch.at;
    });
  const frozenAt = performance.now();
  rec.freezeRenewals();
  await waitFor('the others took the victim shards', () => takenAt !== undefined, ttl * 1000 + 5000, 10);
  assert.ok(stoppedAt !== undefined, 'the victim stopped');
  assert.ok(
    stoppedAt < (takenAt ?? 0),
    `stopped at +${(stoppedAt - frozenAt).toFixed(0)} ms, taken at +${((takenAt ?? 0) - frozenAt).toFixed(0)} ms`,
  );
  assert.deepEqual(victim.replica.ownedShards(), []);
  assert.equal(
    rec
      .plansWritten()
      .filter((p) => p.at > (stoppedAt ?? 0) && (JSON.parse(p.shardValue) as ShardRecord).lease === oldLease)
      .length,
    0,
  );
  // Thawed, it rejoins as a newcomer and gets a share.
  rec.thawRenewals();
  await settled(c.servers, [5, 5, 6], 10_000);
});

test('a lone replica whose renewals stall (an overloaded process) gets every shard back and schedules again', async (t) => {
  const c = await cluster(t, ['r1'], { ttl: 1 });
  await settled(c.servers, [16]);
  const lone = c.servers[0] as RunningServer;
  const rec = c.recs[0] as RecordingStore;
  rec.freezeRenewals();
  await waitFor('the replica stopped acting', () => lone.replica.ownedShards().length === 0, 10_000, 10);
  rec.thawRenewals();
  await waitFor('registered again', () => lone.replica.membership.registrations >= 2, 10_000);
  await settled(c.servers, [16], 10_000);
  // The broker shard is taken in its own step, after the job shards (a race under load otherwise).
  await waitFor('the broker shard is back too', () => lone.replica.ownsBroker(), 10_000);
  const agent = new FakeAgent({ addrs: [lone.url], hostId: 'h1', startDelayMs: 50 });
  await agent.start();
  t.after(() => agent.stop());
  await c.client.putJob('web', rollingJob('web', 2, 'v1'));
  await waitFor(
    'web placed after the lease came back',
    async () => (await c.client.jobTasks('web')).length === 2,
  );
});

test('broker duties: one owner trims the events; a stale broker fence trims nothing', async (t) => {
  const c = await cluster(t, ['r1', 'r2', 'r3'], { keepEvents: 20, brokerIntervalMs: 100 });
  await waitFor('one broker', () => c.servers.filter((s) => s.replica.ownsBroker()).length === 1);
  const log = new EventLog(c.store, systemClock);
  await log.append(Array.from({ length: 60 }, (_, i) => ({ kind: 'test', message: `event ${i}` })));
  await waitFor('events trimmed to 20', async () => (await c.store.range('/events/')).kvs.length <= 20);
  const broker = c.servers.find((s) => s.replica.ownsBroker()) as RunningServer;
  const stale = broker.replica.fenceForShard('broker');
  assert.ok(stale);
  await broker.close();
  await waitFor('a new broker', () => c.servers.some((s) => s !== broker && s.replica.ownsBroker()));
  await log.append(Array.from({ length: 5 }, (_, i) => ({ kind: 'test', message: `more ${i}` })));
  const before = (await c.store.range('/events/')).kvs.length;
  assert.equal(await trimEvents(c.store, stale, 0), 0);
  assert.ok((await c.store.range('/events/')).kvs.length >= before - 5, 'the stale fence deleted nothing');
});

test('same id again replaces the previous incarnation at once; a different shard count is refused', async (t) => {
  const c = await cluster(t, ['solo'], { ttl: 5 });
  await settled(c.servers, [16]);
  await c.servers[0]?.close({ release: false }); // killed: its lease would live 5 s more
  const again = await c.add('solo', { ttl: 5 });
  const ms = await settled([again], [16], 3000);
  assert.ok(ms < 2000, `restarted replica owns its shards after ${ms.toFixed(0)} ms`);
  await assert.rejects(
    startServer({
      auth: { adminToken: TEST_ADMIN_TOKEN },
      store: c.store,
      storeName: 'x',
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      replicaId: 'other',
      shardCount: 8,
    }),
    (e: unknown) =>
      e instanceof DabbaError && e.code === 'DABBA_E_BAD_REQUEST' && /same shard count/.test(e.message),
  );
});

/**
 * Three real `dabba server` processes on a real 3-member etcd cluster, a fake agent reporting through
 * the API, and a rolling update during which the owner of the job's shard is killed with -9, and
 * later (another rollout) frozen with SIGSTOP: another replica takes the shard within the lease TTL
 * and a few seconds, the rollout completes with every new task created exactly once, the API keeps
 * answering, the frozen replica writes nothing once its lease is gone and comes back as a follower.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import type { ServersView, Task } from '../../src/model/index.ts';
import { shardOf, type RegisteredServer } from '../../src/server/shards/index.ts';
import { EtcdStore } from '../../src/store/etcd/index.ts';
import { etcdSkip, startEtcdCluster } from '../helpers/etcd-cluster.ts';
import { FakeAgent, rollingJob, waitFor } from './helpers.ts';
import { ServerProcs, type ServerProc } from './server-procs.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';

const SHARDS = 16;
const TTL_MS = 5000; // the default lease TTL of `dabba server`
const REPLICAS = 4;

interface Created {
  id: string;
  version: number;
  revision: number;
  at: number;
}

test(
  '3 dabba servers on etcd: kill -9 and SIGSTOP of the shard owner during rollouts',
  { skip: etcdSkip(), timeout: 120_000 },
  async (t) => {
    const cluster = await startEtcdCluster({ members: 3 });
    t.after(() => cluster.stop());
    const ns = `/ha-${randomUUID().slice(0, 8)}`;
    const storeUrl = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${ns}`;
    const procs = new ServerProcs();
    t.after(() => procs.stopAll());
    const servers: ServerProc[] = [];
    for (let i = 0; i < 3; i++) servers.push(await procs.start(storeUrl));
    const observer = await EtcdStore.connect(cluster.endpoints, { namespace: ns });
    t.after(() => observer.close());
    const done = new AbortController();
    t.after(() => done.abort());

    // Every task created under /tasks/web/, from the store itself.
    const created: Created[] = [];
    const serverDeletes: { key: string; revision: number }[] = [];
    const from = (await observer.revision()) + 1;
    void (async () => {
      for await (const batch of observer.watch('/tasks/web/', { fromRevision: from, signal: done.signal })) {
        for (const e of batch) {
          if (e.type !== 'put' || e.kv.version !== 1) continue;
          const task = JSON.parse(e.kv.value) as Task;
          created.push({
            id: task.id,
            version: task.version,
            revision: e.kv.modRevision,
            at: performance.now(),
          });
        }
      }
    })().catch(() => undefined);
    void (async () => {
      for await (const batch of observer.watch('/servers/', { fromRevision: from, signal: done.signal })) {
        for (const e of batch)
          if (e.type === 'delete') serverDeletes.push({ key: e.kv.key, revision: e.kv.modRevision });
      }
    })().catch(() => undefined);

    const client = new DabbaClient({
      token: TEST_ADMIN_TOKEN,
      addr: servers.map((s) => s.url),
      timeoutMs: 10_000,
    });
    const view = await waitFor(
      '3 replicas owning every shard',
      async () => {
        const v = await client.servers();
        return v.replicas.length === 3 && v.unowned.length === 0 && v.broker !== null ? v : undefined;
      },
      20_000,
    );
    assert.equal(view.shards, SHARDS);
    assert.match(view.store.name, /^etcd:\/\//);

    const agent = new FakeAgent({ addrs: servers.map((s) => s.url), hostId: 'h1', startDelayMs: 100 });
    await agent.start();
    t.after(() => agent.stop());

    const shard = shardOf('web', SHARDS);
    const ownerOf = (v: ServersView): ServerProc | undefined => {
      const url = v.replicas.find((r) => r.shards.includes(shard))?.url;
      return servers.find((s) => s.url === url);
    };
    const rolledOut = (version: number, timeoutMs = 30_000) =>
      waitFor(
        `web v${version} rolled out`,
        async () => {
          const v = await client.getJob('web');
          return v.version === version && v.deployment?.state === 'succeeded' ? v : undefined;
        },
        timeoutMs,
        100,
      );
    const checkRollout = async (version: number): Promise<void> => {
      if (created.filter((c) => c.version === version).length !== REPLICAS) {
        const evs = await client.events({ job: 'web', limit: 200 });
        for (const e of evs) t.diagnostic(`${e.at} ${e.kind} ${e.message}`);
        for (const c of created) t.diagnostic(`${c.at.toFixed(0)} ${c.id} v${c.version} r${c.revision}`);
      }
      // The last old task is stopped as the deployment succeeds, and removed once its agent says so.
      const tasks = await waitFor(
        `only ${REPLICAS} tasks left`,
        async () => {
          const tasks = await client.jobTasks('web');
          return tasks.every((x) => x.version === version) ? tasks : undefined;
        },
        5000,
      );
      assert.equal(tasks.length, REPLICAS, `exactly ${REPLICAS} tasks at the end`);
      assert.ok(tasks.every((x) => x.version === version));
      const ids = created.filter((c) => c.version === version).map((c) => c.id);
      assert.equal(ids.length, REPLICAS, `every v${version} task created once: ${ids.join(', ')}`);
      assert.equal(new Set(created.map((c) => c.id)).size, created.length, 'no task id created twice');
      assert.deepEqual(tasks.map((x) => x.id).sort(), [...ids].sort(), 'none lost');
    };

    await client.putJob('web', rollingJob('web', REPLICAS, 'v1'));
    await rolledOut(1);

    // ---- kill -9 of the owner in the middle of a rollout ----
    await client.putJob('web', rollingJob('web', REPLICAS, 'v2'));
    await waitFor('first v2 task', () => created.some((c) => c.version === 2), 10_000, 10);
    const victim = ownerOf(await client.servers());
    assert.ok(victim, 'the shard has an owner');
    const survivors = servers.filter((s) => s !== victim);
    const beforeKill = created.filter((c) => c.version === 2).length;
    assert.ok(beforeKill < REPLICAS, 'the rollout is under way');
    const apiErrors: string[] = [];
    let apiCalls = 0;
    const polling = new AbortController();
    const poller = (async () => {
      const c = new DabbaClient({
        token: TEST_ADMIN_TOKEN,
        addr: servers.map((s) => s.url),
        timeoutMs: 3000,
      });
      while (!polling.signal.aborted) {
        try {
          await c.getJob('web');
          apiCalls++;
        } catch (e) {
          apiErrors.push(String(e));
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const killedAt = performance.now();
    await victim.kill9();
    const resumed = await waitFor(
      'the rollout resumed by another replica',
      () => created.find((c) => c.version === 2 && c.at > killedAt),
      TTL_MS + 10_000,
      20,
    );
    const failoverMs = resumed.at - killedAt;
    t.diagnostic(`kill -9: rollout resumed ${failoverMs.toFixed(0)} ms after the kill`);
    await rolledOut(2);
    polling.abort();
    await poller;
    assert.ok(failoverMs < TTL_MS + 5000, `failover took ${failoverMs.toFixed(0)} ms`);
    await checkRollout(2);
    assert.deepEqual(apiErrors, [], 'the API answered throughout');
    assert.ok(apiCalls > 10);
    const afterKill = await client.servers();
    assert.equal(afterKill.replicas.length, 2);
    assert.ok(survivors.includes(ownerOf(afterKill) as ServerProc));

    // ---- SIGSTOP of the owner in the middle of the next rollout ----
    await client.putJob('web', rollingJob('web', REPLICAS, 'v3'));
    await waitFor('first v3 task', () => created.some((c) => c.version === 3), 10_000, 10);
    const sv = await client.servers();
    const frozen = ownerOf(sv);
    assert.ok(frozen);
    const frozenId = sv.replicas.find((r) => r.url === frozen.url)?.id ?? '';
    const oldRecord = JSON.parse(
      (await observer.get(`/servers/${frozenId}`))?.value ?? '{}',
    ) as RegisteredServer;
    const other = survivors.find((s) => s !== frozen) as ServerProc;
    const otherClient = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: other.url });
    const stoppedAt = performance.now();
    frozen.stop();
    t.after(() => frozen.cont());
    // The other replica answers the whole time, and takes the shard once the lease expires.
    let answered = 0;
    const takenOver = await waitFor(
      'the other replica owns the shard',
      async () => {
        const v = await otherClient.servers();
        answered++;
        return ownerOf(v) === other ? v : undefined;
      },
      TTL_MS + 10_000,
      100,
    );
    const takeoverMs = performance.now() - stoppedAt;
    t.diagnostic(`SIGSTOP: shard taken over ${takeoverMs.toFixed(0)} ms after the stop`);
    assert.ok(answered > 5);
    assert.ok(
      !takenOver.replicas.some((r) => r.id === frozenId),
      'the frozen replica is gone from the group',
    );
    await rolledOut(3);
    const expired = serverDeletes.find((d) => d.key === `/servers/${frozenId}`);
    assert.ok(expired, "the frozen replica's registration expired");

    // Thawed: it notices its lease is gone and rejoins as a newcomer, with a share of the shards.
    frozen.cont();
    await waitFor(
      'the thawed replica rejoined with shards',
      async () => {
        const v = await otherClient.servers();
        const r = v.replicas.find((x) => x.id === frozenId);
        return r && r.shards.length > 0 && v.unowned.length === 0 ? v : undefined;
      },
      TTL_MS + 10_000,
      100,
    );
    const rejoined = JSON.parse(
      (await observer.get(`/servers/${frozenId}`))?.value ?? '{}',
    ) as RegisteredServer;
    assert.notEqual(rejoined.lease, oldRecord.lease, 'registered again with a new lease');
    await checkRollout(3);
    // No split brain: every plan the frozen replica wrote with its old lease was written before that
    // lease expired.
    const plans = frozen.lines.filter((l) => l.msg === 'plan written');
    assert.ok(plans.length > 0, 'the replica logged its plans');
    const late = plans.filter(
      (l) => l['lease'] === oldRecord.lease && Number(l['revision']) > expired.revision,
    );
    assert.deepEqual(late, []);
    assert.ok(
      frozen.lines.some((l) => l.msg === 'replica lost its lease'),
      `the replica said it lost its lease:\n${frozen.text}`,
    );
  },
);

/**
 * The control plane over a real 3-member etcd cluster keeps serving when one member dies (the
 * leader, then a follower), and a restarted member rejoins. Two server replicas (in this process)
 * answer the API throughout, and a job deployed while a member is down is scheduled.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { EtcdStore } from '../../src/store/etcd/index.ts';
import { etcdSkip, startEtcdCluster, type EtcdCluster } from '../helpers/etcd-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';

// Needs etcd: fails without it (before() says what to install) unless DABBA_SKIP_ETCD=1.
const skip = etcdSkip();

describe('control plane on etcd: member loss', { skip }, () => {
  let cluster: EtcdCluster;
  const stores: EtcdStore[] = [];
  const servers: RunningServer[] = [];
  let client: DabbaClient;

  before(async () => {
    cluster = await startEtcdCluster({ members: 3 });
    for (const id of ['a', 'b']) {
      const store = await EtcdStore.connect(cluster.endpoints, { namespace: '/member-loss' });
      stores.push(store);
      servers.push(
        await startServer({
          auth: { adminToken: TEST_ADMIN_TOKEN },
          store,
          storeName: 'etcd',
          host: '127.0.0.1',
          port: 0,
          logger: silentLogger,
          replicaId: id,
          leaseTtlSeconds: 3,
        }),
      );
    }
    client = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: servers.map((s) => s.url), timeoutMs: 10_000 });
    await client.registerHost({
      id: 'h1',
      labels: {},
      capacity: { cpu: 64, memoryBytes: 64 * 2 ** 30, pids: 100_000 },
      runtime: 'process',
    });
  });
  after(async () => {
    for (const s of servers) await s.close();
    for (const s of stores) await s.close();
    await cluster?.stop();
  });

  const job = (name: string, replicas: number) => ({ name, replicas, task: { command: ['sleep', '1000'] } });

  async function deployedAndPlaced(name: string, replicas: number): Promise<number> {
    const t0 = Date.now();
    await client.putJob(name, job(name, replicas));
    for (;;) {
      const tasks = await client.jobTasks(name);
      if (tasks.length === replicas && tasks.every((t) => t.host === 'h1')) return Date.now() - t0;
      if (Date.now() - t0 > 20_000) assert.fail(`${name}: ${tasks.length} tasks after 20 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  for (const which of ['leader', 'follower'] as const) {
    test(`killing the ${which} member: the API keeps serving; the member rejoins`, async () => {
      const leader = await cluster.leaderIndex();
      const victim = which === 'leader' ? leader : (leader + 1) % 3;
      await cluster.killMember(victim, 'SIGKILL');
      const ms = await deployedAndPlaced(`during-${which}`, 3);
      console.log(`${which} killed: a deploy was stored and placed in ${ms} ms`);
      assert.equal((await client.health()).ok, true);
      await cluster.restartMember(victim);
      await cluster.waitHealthy(20_000);
      assert.equal((await client.getJob(`during-${which}`)).replicas, 3);
      await deployedAndPlaced(`after-${which}`, 2);
      // The restarted member has the data: read through a store that talks to it alone.
      const only = await EtcdStore.connect([cluster.endpoints[victim] ?? ''], { namespace: '/member-loss' });
      try {
        const r = await only.range(`/jobs/during-${which}`);
        assert.equal(r.kvs.length, 1, 'the rejoined member serves the job written while it was down');
      } finally {
        await only.close();
      }
    });
  }
});

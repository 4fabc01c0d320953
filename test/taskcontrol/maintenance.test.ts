/**
 * Host maintenance (`POST /v1/maintenance`, `dabba host maintenance`) under TaskControl, on one
 * real server with four in-process agents on two racks (fake runtime) and SDK controllers:
 * maintenance of two hosts at once under a shard controller never leaves a shard without an up
 * replica (sampled), empties both hosts, and ends with the hosts ready again; a controller that
 * acknowledges nothing gets the advance notice before the start, and the hosts still empty at the
 * deadline, not before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import type { TaskControlRequest } from '../../src/model/index.ts';
import { serveTaskControl, shardGuard } from '../../src/sdk/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { startFakeCluster, type FakeCluster } from './cluster.ts';
import { isUp, PER_SHARD, SHARDS, ShardedService } from './shard-fixture.ts';

const REPLICAS = SHARDS.length * PER_SHARD;

describe('host maintenance under TaskControl', { timeout: 240_000 }, () => {
  let cluster: FakeCluster;
  let client: DabbaClient;

  before(async () => {
    cluster = await startFakeCluster('maintenance');
    client = cluster.t.client;
  });
  after(() => cluster.close());

  async function hostState(id: string): Promise<string | undefined> {
    return (await client.hosts()).find((h) => h.id === id)?.state;
  }

  test('two hosts at once: no shard down, both emptied, then ready again', async () => {
    const job = 'kvm';
    const service = new ShardedService(client, job);
    const requests: TaskControlRequest[] = [];
    const guard = shardGuard({
      shardOf: (task) => service.shard.get(task),
      upTasks: () => service.refresh(),
      replicasPerShard: PER_SHARD,
    });
    const controller = await serveTaskControl(async (r) => {
      requests.push(r);
      return guard(r);
    });
    cluster.controllers.push(controller);
    await client.putJob(job, {
      name: job,
      replicas: REPLICAS,
      task: { command: ['sleep', '10000'], resources: { cpu: 0.1, memory: '16Mi' } },
      update: { maxUnavailable: REPLICAS, maxSurge: 0, minHealthy: '1s' },
      taskControl: { url: controller.url, timeout: '2s' },
    });
    await waitFor(
      'kvm: all up',
      async () => {
        const live = (await client.jobTasks(job)).filter((x) => x.desired === 'run');
        const now = Date.now();
        return live.length === REPLICAS && live.every((x) => isUp(x, now)) ? true : undefined;
      },
      120_000,
    );
    // The two hosts with the most of the job's tasks.
    const byHost = new Map<string, number>();
    for (const x of await client.jobTasks(job)) if (x.host) byHost.set(x.host, (byHost.get(x.host) ?? 0) + 1);
    const targets = [...byHost.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 2)
      .map(([h]) => h);
    assert.equal(targets.length, 2);
    const stop = new AbortController();
    const sampling = service.sample(stop.signal);
    try {
      const r = await client.hostMaintenance({ hosts: targets, deadline: '5m', reason: 'kernel upgrade' });
      assert.ok(r.hosts.every((h) => h.changed));
      for (const h of targets) assert.equal(await hostState(h), 'maintenance');
      await waitFor(
        'both hosts emptied and the job whole elsewhere',
        async () => {
          const tasks = await client.jobTasks(job);
          const live = tasks.filter((x) => x.desired === 'run');
          const now = Date.now();
          return tasks.every((x) => !targets.includes(x.host ?? '')) &&
            live.length === REPLICAS &&
            live.every((x) => isUp(x, now))
            ? true
            : undefined;
        },
        120_000,
      );
    } finally {
      stop.abort();
    }
    const seen = await sampling;
    assert.ok(seen.samples > 10);
    assert.deepEqual(seen.violations, [], 'no shard had both replicas down');
    assert.ok(
      requests.some((q) =>
        q.notices.some(
          (n) => n.kind === 'maintenance' && n.reason === 'kernel upgrade' && targets.includes(n.host),
        ),
      ),
      'the controller got the maintenance notices',
    );
    assert.ok(requests.some((q) => q.pending.some((p) => p.op === 'move' && p.deadline !== undefined)));
    await client.endHostMaintenance(targets);
    for (const h of targets) assert.equal(await hostState(h), 'ready');
    await client.stopJob(job);
  });

  test('a controller that acknowledges nothing: notice before the start, hosts empty at the deadline', async () => {
    const job = 'deaf';
    const requests: { at: number; r: TaskControlRequest }[] = [];
    const controller = await serveTaskControl((r) => {
      requests.push({ at: Date.now(), r });
      return [];
    });
    cluster.controllers.push(controller);
    await client.putJob(job, {
      name: job,
      replicas: 2,
      task: { command: ['sleep', '10000'], resources: { cpu: 0.1, memory: '16Mi' } },
      placement: { spread: [{ attribute: 'rack' }] },
      taskControl: { url: controller.url, timeout: '2s' },
    });
    const tasks = await waitFor('deaf: 2 running', async () => {
      const all = await client.jobTasks(job);
      return all.length === 2 && all.every((x) => x.state === 'running') ? all : undefined;
    });
    const hosts = [...new Set(tasks.map((x) => x.host ?? ''))];
    const r = await client.hostMaintenance({ hosts, start: '2s', deadline: '6s', reason: 'power work' });
    await waitFor('deaf: nothing left on the hosts', async () => {
      const all = await client.jobTasks(job);
      return all.every((x) => !hosts.includes(x.host ?? '')) ? true : undefined;
    });
    assert.ok(Date.now() >= r.deadline, 'the tasks left at the deadline, not before');
    const early = requests.filter((q) => q.at < r.start);
    assert.ok(
      early.some((q) => q.r.notices.some((n) => n.kind === 'maintenance' && n.start === r.start)),
      'an advance notice reached the controller before the start',
    );
    assert.ok(
      early.every((q) => q.r.pending.length === 0),
      'nothing was proposed before the start',
    );
    assert.ok(
      requests.some((q) => q.r.pending.some((p) => p.op === 'move' && p.deadline === r.deadline)),
      'the moves were proposed with the maintenance deadline',
    );
    await waitFor('deaf: 2 running elsewhere', async () => {
      const all = (await client.jobTasks(job)).filter((x) => x.desired === 'run');
      return all.length === 2 && all.every((x) => x.state === 'running') ? true : undefined;
    });
    await client.endHostMaintenance(hosts);
  });
});

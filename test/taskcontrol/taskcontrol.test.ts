/**
 * TaskControl end to end on one real server (SQLite store, scheduler loop) with four agents in
 * process (two racks) on the fake runtime, and real HTTP controllers written with the SDK helper:
 * a rolling update under a controller that never lets both replicas of a shard be down keeps the
 * rule (sampled) and finishes, while the same update without the controller breaks it; a controller
 * that acknowledges nothing holds the update (status says what waits and since when) but not a drain
 * past its deadline; a host that dies is reported to the controller, and its tasks are replaced
 * only once the controller acknowledges.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import { sleep } from '../../src/lib/index.ts';
import type { TaskControlRequest } from '../../src/model/index.ts';
import { serveTaskControl, shardGuard } from '../../src/sdk/index.ts';
import { startFakeCluster, type FakeCluster } from './cluster.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { isUp, PER_SHARD, SHARDS, ShardedService } from './shard-fixture.ts';

function jobFile(name: string, env: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name,
    replicas: SHARDS.length * PER_SHARD,
    task: { command: ['sleep', '10000'], env: { V: env }, resources: { cpu: 0.1, memory: '16Mi' } },
    update: { maxUnavailable: SHARDS.length * PER_SHARD, maxSurge: 0, minHealthy: '1s', deadline: '2m' },
    placement: { spread: [{ attribute: 'rack' }] },
    ...extra,
  };
}

describe('TaskControl', { timeout: 240_000 }, () => {
  let cluster: FakeCluster;
  let client: DabbaClient;
  let agents: FakeCluster['agents'];
  let controllers: FakeCluster['controllers'];

  before(async () => {
    cluster = await startFakeCluster('taskcontrol');
    client = cluster.t.client;
    agents = cluster.agents;
    controllers = cluster.controllers;
  });
  after(() => cluster.close());

  async function allUp(job: string, version: number): Promise<void> {
    await waitFor(
      `${job} v${version}: all replicas up`,
      async () => {
        const tasks = (await client.jobTasks(job)).filter((x) => x.desired === 'run');
        const now = Date.now();
        return tasks.length === SHARDS.length * PER_SHARD &&
          tasks.every((x) => x.version === version && isUp(x, now))
          ? true
          : undefined;
      },
      120_000,
    );
  }

  /** Runs the update v1 -> v2 of `job` while sampling; returns what the sampler saw and status. */
  async function sampledUpdate(
    job: string,
    service: ShardedService,
    extra: Record<string, unknown>,
  ): Promise<{ violations: string[]; samples: number; sawWaiting: boolean }> {
    await client.putJob(job, jobFile(job, '1', extra));
    await allUp(job, 1);
    const stop = new AbortController();
    const sampling = service.sample(stop.signal);
    let sawWaiting = false;
    try {
      await client.putJob(job, jobFile(job, '2', extra));
      await waitFor(
        `${job} v2 rolled out`,
        async () => {
          const view = await client.getJob(job);
          if ((view.taskControl?.waiting.length ?? 0) > 0) sawWaiting = true;
          const done = view.deployment?.version === 2 && view.deployment.state === 'succeeded';
          const now = Date.now();
          const live = view.tasks.filter((x) => x.desired === 'run');
          return done && live.length === SHARDS.length * PER_SHARD && live.every((x) => isUp(x, now))
            ? true
            : undefined;
        },
        120_000,
      );
    } finally {
      stop.abort();
    }
    const seen = await sampling;
    return { ...seen, sawWaiting };
  }

  test('a rolling update under a shard controller never has a shard down, and finishes', async () => {
    const service = new ShardedService(client, 'kv');
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
    controllers.push(controller);
    const r = await sampledUpdate('kv', service, { taskControl: { url: controller.url, timeout: '2s' } });
    assert.ok(r.samples > 10, `sampled ${r.samples} times`);
    assert.deepEqual(r.violations, [], 'no shard had both replicas down');
    assert.ok(
      requests.some((q) => q.pending.some((p) => p.op === 'replace')),
      'the controller was asked to replace tasks',
    );
    assert.ok(r.sawWaiting, 'status showed operations waiting on the controller');
    assert.ok(
      requests.some((q) => q.completed.some((id) => id.startsWith('replace:'))),
      'the controller was told what completed',
    );
  });

  test('the same update without a controller takes a whole shard down (the check can fail)', async () => {
    const service = new ShardedService(client, 'kvbare');
    const r = await sampledUpdate('kvbare', service, {});
    assert.ok(r.violations.length > 0, 'without the controller, some shard had no replica up');
    assert.equal(r.sawWaiting, false);
  });

  test('a controller that acknowledges nothing holds an update, but not a drain past its deadline', async () => {
    const requests: TaskControlRequest[] = [];
    const controller = await serveTaskControl((r) => {
      requests.push(r);
      return [];
    });
    controllers.push(controller);
    const job = 'stuck';
    const file = (env: string): Record<string, unknown> => ({
      name: job,
      replicas: 2,
      task: { command: ['sleep', '10000'], env: { V: env }, resources: { cpu: 0.1, memory: '16Mi' } },
      update: { maxUnavailable: 1, maxSurge: 1, minHealthy: '0s', deadline: '5m' },
      placement: { spread: [{ attribute: 'rack' }] },
      taskControl: { url: controller.url, timeout: '2s' },
    });
    await client.putJob(job, file('1'));
    await waitFor('stuck v1 running', async () => {
      const tasks = await client.jobTasks(job);
      return tasks.length === 2 && tasks.every((x) => x.state === 'running') ? tasks : undefined;
    });
    await client.putJob(job, file('2'));
    const waiting = await waitFor('the update waits on the controller', async () => {
      const view = await client.getJob(job);
      return (view.taskControl?.waiting.length ?? 0) > 0 ? view.taskControl?.waiting : undefined;
    });
    assert.ok(waiting.every((w) => w.op === 'replace' && w.since <= Date.now()));
    await sleep(3000);
    const held = await client.jobTasks(job);
    assert.equal(
      held.filter((x) => x.version === 1 && x.desired === 'run').length,
      2,
      'both v1 tasks still run: nothing was acknowledged',
    );
    assert.ok(
      held.filter((x) => x.desired === 'run').length <= 3,
      'no more than replicas + maxSurge tasks while it waits',
    );
    assert.ok(requests.length >= 2, 'the waiting operations were proposed again');

    // A drain with a deadline: the stops wait on the controller until the deadline, then proceed (the
    // v1 task there is being replaced anyway, so its operation stays a 'replace', now with a deadline).
    const host = held.find((x) => x.version === 1 && x.host !== null)?.host;
    assert.ok(host !== undefined && host !== null);
    const r = await client.drainHost(host, '4s');
    const deadline = r.drainDeadline;
    assert.ok(deadline !== undefined);
    await waitFor('the operation on the draining host waits, with its deadline', async () => {
      const view = await client.getJob(job);
      return view.taskControl?.waiting.find((w) => w.host === host && w.deadline === deadline);
    });
    await waitFor('the controller is told of the drain', () =>
      requests.some((q) => q.notices.some((n) => n.host === host && n.deadline === deadline)),
    );
    await waitFor(
      'nothing of the job left on the drained host after its deadline',
      async () => {
        const tasks = await client.jobTasks(job);
        return tasks.every((x) => x.host !== host) ? true : undefined;
      },
      60_000,
    );
    assert.ok(Date.now() >= deadline, 'the drain proceeded at its deadline, not before');
    await client.stopJob(job);
  });

  test('an unreachable controller holds the update, and status says why', async () => {
    const job = 'unreached';
    const file = (env: string): Record<string, unknown> => ({
      name: job,
      replicas: 2,
      task: { command: ['sleep', '10000'], env: { V: env }, resources: { cpu: 0.1, memory: '16Mi' } },
      update: { maxUnavailable: 1, maxSurge: 0 },
      taskControl: { url: 'http://127.0.0.1:1/', timeout: '1s' },
    });
    await client.putJob(job, file('1'));
    await waitFor('unreached v1 running', async () => {
      const tasks = await client.jobTasks(job);
      return tasks.length === 2 && tasks.every((x) => x.state === 'running') ? true : undefined;
    });
    await client.putJob(job, file('2'));
    const tc = await waitFor('status shows the error', async () => {
      const view = await client.getJob(job);
      return view.taskControl?.lastError !== undefined && view.taskControl.waiting.length > 0
        ? view.taskControl
        : undefined;
    });
    assert.match(tc.lastError ?? '', /unreachable/);
    await sleep(2000);
    const tasks = await client.jobTasks(job);
    assert.equal(tasks.filter((x) => x.version === 1 && x.desired === 'run').length, 2, 'nothing stopped');
    assert.equal(tasks.filter((x) => x.version === 2).length, 0, 'maxSurge 0: nothing started either');
    await client.stopJob(job);
  });

  test('a host that dies: the controller is told, acknowledges, and only then the task is replaced', async () => {
    const job = 'lost';
    let ackedAt: number | undefined;
    let toldAt: number | undefined;
    const told = new Set<string>();
    const controller = await serveTaskControl((r) => {
      for (const u of r.unhealthy) told.add(u.task);
      const restarts = r.pending.filter((p) => p.op === 'restart');
      if (restarts.length === 0) return r.pending.map((p) => p.id);
      toldAt ??= Date.now();
      if (Date.now() - toldAt < 2000) return []; // "let me check first"
      ackedAt ??= Date.now();
      return restarts.map((p) => p.id);
    });
    controllers.push(controller);
    await client.putJob(job, {
      name: job,
      replicas: 2,
      task: { command: ['sleep', '10000'], resources: { cpu: 0.1, memory: '16Mi' } },
      placement: { spread: [{ attribute: 'rack' }] },
      taskControl: { url: controller.url, timeout: '2s', hostFailureWait: '5m' },
    });
    const before = await waitFor('lost: 2 running on live hosts', async () => {
      const hosts = new Map((await client.hosts()).map((h) => [h.id, h.state]));
      const tasks = await client.jobTasks(job);
      return tasks.length === 2 &&
        tasks.every((x) => x.state === 'running' && hosts.get(x.host ?? '') === 'ready')
        ? tasks
        : undefined;
    });
    const victim = before[0];
    assert.ok(victim?.host);
    const close = agents.get(victim.host);
    assert.ok(close);
    agents.delete(victim.host);
    await close();
    const replacement = await waitFor(
      'a replacement elsewhere',
      async () => {
        const tasks = await client.jobTasks(job);
        return tasks.find((x) => !before.some((b) => b.id === x.id));
      },
      60_000,
    );
    assert.ok(told.has(victim.id), 'the controller was told the task is unhealthy');
    assert.ok(ackedAt !== undefined, 'the controller acknowledged the replacement');
    assert.ok(replacement.createdAt >= ackedAt, 'the replacement was created after the acknowledgement');
    assert.notEqual(replacement.host, victim.host);
  });
});

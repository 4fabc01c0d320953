/** The HTTP API against a real SQLite store: jobs, versions, hosts, statuses, events and the SSE watch. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import type { Task, WatchEventWire } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

const job = (replicas: number, greeting = 'hi') => ({
  name: 'web',
  replicas,
  task: { command: ['sleep', '100'], env: { GREETING: greeting } },
});

describe('HTTP API', () => {
  let t: TestServer;
  let client: DabbaClient;

  before(async () => {
    t = await startTestServer('api', { hostTtlSeconds: 2 });
    client = t.client;
  });
  after(() => t.close());

  test('health', async () => {
    const h = await client.health();
    assert.equal(h.ok, true);
    assert.equal(h.store, 'sqlite');
    assert.ok(h.revision >= 0);
  });

  test('PUT stores versions; an identical spec is not a new version; history lists them', async () => {
    assert.deepEqual(await client.putJob('web', job(2)), { job: 'web', version: 1, changed: true });
    assert.deepEqual(await client.putJob('web', job(2)), { job: 'web', version: 1, changed: false });
    assert.deepEqual(await client.putJob('web', job(2, 'hello')), { job: 'web', version: 2, changed: true });
    const versions = await client.jobVersions('web');
    assert.deepEqual(
      versions.map((v) => [v.version, v.spec.task.env['GREETING']]),
      [
        [1, 'hi'],
        [2, 'hello'],
      ],
    );
    const view = await client.getJob('web');
    assert.equal(view.version, 2);
    assert.equal(view.replicas, 2);
    assert.equal(view.status, 'active');
    assert.deepEqual((view.spec as { task: { env: unknown } }).task.env, { GREETING: 'hello' });
  });

  test('the name in the URL must match the body', async () => {
    await assert.rejects(
      client.putJob('other', job(1)),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_BAD_REQUEST',
    );
  });

  test('unknown job -> NOT_FOUND for every job route', async () => {
    for (const p of [
      client.getJob('nope'),
      client.jobTasks('nope'),
      client.jobVersions('nope'),
      client.stopJob('nope'),
    ]) {
      await assert.rejects(p, (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND');
    }
  });

  test('host registration, heartbeat, assignments and status reporting', async () => {
    const reg = await client.registerHost({
      id: 'h1',
      labels: { rack: 'r1' },
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 10000 },
      runtime: 'process',
    });
    assert.ok(reg.lease > 0);
    assert.ok(reg.heartbeatMs < reg.ttlSeconds * 1000);
    await client.heartbeat('h1', reg.lease);
    await assert.rejects(
      client.heartbeat('h1', reg.lease + 12345),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_LEASE_NOT_FOUND',
    );
    // The scheduler places the 2 replicas of "web" on the only host.
    const assigned = await waitUntil(async () => {
      const a = await client.assignments('h1');
      return a.tasks.length === 2 ? a.tasks : undefined;
    });
    const t = assigned[0] as Task;
    assert.equal(t.host, 'h1');
    await client.reportStatus({
      id: t.id,
      job: 'web',
      host: 'h1',
      state: 'running',
      healthy: true,
      ready: true,
      restarts: 0,
      pid: 4242,
      address: '127.0.0.1',
      ports: {},
      updatedAt: Date.now(),
    });
    const row = (await client.jobTasks('web')).find((r) => r.id === t.id);
    assert.equal(row?.state, 'running');
    assert.equal(row?.pid, 4242);
    // A status for a task that is not assigned to the reporting host is refused.
    await assert.rejects(
      client.reportStatus({
        id: t.id,
        job: 'web',
        host: 'h2',
        state: 'running',
        healthy: true,
        ready: true,
        restarts: 0,
        updatedAt: 1,
      }),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND',
    );
    const hosts = await client.hosts();
    assert.equal(hosts[0]?.state, 'ready');
    assert.equal(hosts[0]?.allocated.cpu, 0.2);
  });

  test('cordon and uncordon a host', async () => {
    assert.deepEqual(await client.setHostSchedulable('h1', 'cordon'), {
      host: 'h1',
      schedulable: 'cordoned',
      changed: true,
    });
    assert.equal((await client.hosts()).find((h) => h.id === 'h1')?.state, 'cordoned');
    assert.equal((await client.setHostSchedulable('h1', 'cordon')).changed, false);
    await client.setHostSchedulable('h1', 'uncordon');
    assert.equal((await client.hosts()).find((h) => h.id === 'h1')?.state, 'ready');
    await assert.rejects(
      client.setHostSchedulable('nope', 'cordon'),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND',
    );
  });

  test('plan shows the change and why tasks would not fit, writing nothing', async () => {
    // A fresh lease: h1 must be alive (ready) for the whole test.
    await client.registerHost({
      id: 'h1',
      labels: { rack: 'r1' },
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 10000 },
      runtime: 'process',
    });
    await new Promise((r) => setTimeout(r, 300));
    const before = await client.getJob('web');
    const rev = (await client.health()).revision;
    const changed = await client.planJob('web', job(2, 'planned'));
    assert.equal(changed.changed, true);
    assert.equal(changed.nextVersion, before.version + 1);
    assert.equal(changed.replace.length, 2);
    assert.deepEqual(changed.add, [{ host: 'h1', count: 2 }]);
    assert.deepEqual(changed.failures, []);
    const same = await client.planJob('web', job(2, 'hello'));
    assert.equal(same.changed, false);
    assert.equal(same.keep.length, 2);
    assert.deepEqual(same.add, []);
    const big = await client.planJob('web', {
      ...job(3),
      task: { command: ['true'], resources: { cpu: 8 } },
    });
    assert.equal(
      big.failures.reduce((n, f) => n + f.count, 0),
      3,
    );
    assert.match(big.failures[0]?.summary ?? '', /needs 8 CPUs; the largest free is \d+(\.\d+)? on host h1/);
    assert.ok((big.failures[0]?.detail.length ?? 0) > 1);
    assert.equal((await client.getJob('web')).version, before.version, 'nothing written');
    assert.equal((await client.health()).revision, rev, 'not even an event');
  });

  test('a host whose heartbeats stop is down after its TTL', async () => {
    await client.registerHost({
      id: 'h9',
      labels: {},
      capacity: { cpu: 1, memoryBytes: 2 ** 30, pids: 100 },
      runtime: 'process',
    });
    await waitUntil(
      async () => ((await client.hosts()).find((h) => h.id === 'h9')?.state === 'down' ? true : undefined),
      8000,
    );
  });

  test('watch streams every change from a revision, in order', async () => {
    const start = (await client.health()).revision + 1;
    const controller = new AbortController();
    const seen: WatchEventWire[] = [];
    const watching = (async () => {
      for await (const batch of client.watch('/jobs/', start, controller.signal)) {
        seen.push(...batch);
        if (seen.length >= 3) controller.abort();
      }
    })();
    await client.putJob('web', job(3));
    await client.putJob('web', job(4));
    await client.stopJob('web');
    await watching;
    assert.deepEqual(
      seen.map((e) => [
        e.key,
        (e.value as { spec: { replicas: number }; status: string }).spec.replicas,
        (e.value as { status: string }).status,
      ]),
      [
        ['/jobs/web', 3, 'active'],
        ['/jobs/web', 4, 'active'],
        ['/jobs/web', 4, 'stopped'],
      ],
    );
    assert.ok(seen.every((e, i) => i === 0 || e.modRevision > (seen[i - 1]?.modRevision ?? 0)));
  });

  test('watch from a compacted revision answers DABBA_E_COMPACTED', async () => {
    await client.putJob('web', job(5));
    await t.store.compact(await t.store.revision());
    const controller = new AbortController();
    await assert.rejects(
      (async () => {
        for await (const _ of client.watch('/', 1, controller.signal)) {
          // nothing expected
        }
      })(),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_COMPACTED',
    );
  });

  test('events record what happened', async () => {
    const events = await client.events({ job: 'web' });
    assert.ok(events.some((e) => e.kind === 'JobVersion'));
    assert.ok(events.some((e) => e.kind === 'JobStopped'));
  });
});

async function waitUntil<T>(fn: () => Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

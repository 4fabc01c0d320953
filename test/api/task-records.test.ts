/**
 * Task records refer to their job version's spec instead of holding a copy (model/task-record.ts):
 * what the store holds, and that every reader still hands out tasks with their spec (the agent's
 * assignment list and watch, the task and job routes, the hosts' allocations). Real server and
 * SQLite store; one agent in process on the fake runtime starts the tasks from what it is sent.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import type { DabbaClient } from '../../src/client/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { JobVersionRecord, Task, TaskRecord, WatchEventWire } from '../../src/model/index.ts';
import { keys } from '../../src/model/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { cachedJobView } from '../../src/server/cached-job-view.ts';
import { StateCache } from '../../src/server/state-cache.ts';
import { jobView } from '../../src/server/state/views.ts';
import type { Store } from '../../src/store/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const spec = (greeting: string, replicas = 2) => ({
  name: 'rec',
  replicas,
  task: { command: ['sleep', '100'], env: { GREETING: greeting }, resources: { cpu: 0.5 } },
});

describe('task records refer to their version spec', { timeout: 120_000 }, () => {
  let t: TestServer;
  let client: DabbaClient;
  const runtime = new FakeRuntime();
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    t = await startTestServer('taskrec');
    client = t.client;
    const a = await startAgent({
      client,
      runtime,
      hostId: 'h1',
      labels: {},
      dataDir: join(t.dir, 'agent'),
      logger: silentLogger,
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
    });
    closers.push(() => a.close());
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await t.close();
  });

  async function stored(prefix: string): Promise<TaskRecord[]> {
    return (await t.store.range(prefix)).kvs.map((kv) => JSON.parse(kv.value) as TaskRecord);
  }

  async function version(n: number): Promise<JobVersionRecord> {
    const kv = await t.store.get(keys.jobVersion('rec', n));
    assert.ok(kv, `version ${n} is stored`);
    return JSON.parse(kv.value) as JobVersionRecord;
  }

  test('stored without the spec; the agent, the task routes and the hosts see it', async () => {
    const from = (await client.health()).revision + 1;
    await client.putJob('rec', spec('a'));
    const v1 = await version(1);
    await waitFor(
      '2 task records',
      async () => (await stored(keys.jobTasksPrefix('rec'))).length === 2,
      60_000,
    );
    for (const r of [
      ...(await stored(keys.jobTasksPrefix('rec'))),
      ...(await stored(keys.assignmentsPrefix)),
    ]) {
      assert.equal(r.spec, undefined, 'no copy of the spec in the record');
      assert.equal(r.specAt, v1.createdAt, 'the reference names version 1 by its creation time');
      assert.equal(r.version, 1);
    }

    // The agent started both from its assignments (it needs the spec's command to).
    await waitFor('2 tasks started by the agent', () => runtime.running().length === 2, 60_000);
    const assigned = await client.assignments('h1');
    assert.equal(assigned.tasks.length, 2);
    for (const task of assigned.tasks) {
      assert.deepEqual(task.spec, v1.spec.task);
      assert.equal('specAt' in task, false, 'the reference is not part of the API');
    }

    const rows = await client.jobTasks('rec');
    assert.equal(rows.length, 2);
    const res = await fetch(`${t.server.url}/v1/tasks/${rows[0]?.id ?? ''}`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(((await res.json()) as Task).spec, v1.spec.task);
    const h1 = (await client.hosts()).find((h) => h.id === 'h1');
    assert.equal(h1?.allocated.cpu, 1, 'allocations add up the resolved specs');

    // The watch replays the same tasks, spec included.
    const seen = await watchTasks(client, from, 2);
    for (const e of seen) assert.deepEqual((e.value as Task).spec, v1.spec.task);
  });

  test('a new version: its tasks refer to it, the old ones to theirs until replaced', async () => {
    await client.putJob('rec', spec('b'));
    const v2 = await version(2);
    await waitFor(
      'the tasks of version 2',
      async () => {
        const rs = await stored(keys.jobTasksPrefix('rec'));
        return rs.length === 2 && rs.every((r) => r.version === 2 && r.specAt === v2.createdAt);
      },
      60_000,
    );
    const assigned = await client.assignments('h1');
    assert.deepEqual(
      assigned.tasks.map((task) => task.spec.env['GREETING']),
      ['b', 'b'],
    );
  });

  test('GET /v1/jobs/NAME from the scheduler cache is the view read from the store', async () => {
    const json = (v: unknown): unknown => JSON.parse(JSON.stringify(v));
    // Retried: a status report between the reads changes both a moment apart.
    let last: unknown[] = [];
    await waitFor(
      'the same view from the store, the cache and the route',
      async () => {
        const fromStore = json(await jobView(t.store, 'rec'));
        const fromCache = cachedJobView(t.server.scheduler.cache, t.store, 'rec');
        const fromRoute = json(await client.getJob('rec'));
        last = [fromStore, fromCache, fromRoute];
        return (
          fromCache !== undefined &&
          isDeepStrictEqual(json(fromCache), fromStore) &&
          isDeepStrictEqual(fromRoute, fromStore)
        );
      },
      60_000,
    ).catch((e: unknown) => {
      assert.fail(`${String(e)}: store, cache, route: ${JSON.stringify(last)}`);
    });
    const [fromStore] = last as [{ tasks: { id: string }[] }];
    assert.equal(fromStore.tasks.length, 2);
    // The store only: not before the cache is loaded, nor where the store cannot say its revision.
    assert.equal(cachedJobView(new StateCache(), t.store, 'rec'), undefined);
    const noRevision = new Proxy<Store>(t.store, {
      get: (target, prop): unknown => (prop === 'knownRevision' ? undefined : Reflect.get(target, prop)),
    });
    assert.equal(cachedJobView(t.server.scheduler.cache, noRevision, 'rec'), undefined);
    assert.equal(cachedJobView(t.server.scheduler.cache, t.store, 'no-such-job'), undefined);
  });

  test('a record naming a version that is not the stored one is not given its spec', async () => {
    // As after a purge and a new deploy of the same name: version 1 is a different record now.
    const v1 = await version(1);
    const from = (await client.health()).revision + 1;
    const forged: TaskRecord = {
      id: 'ghost-aaaaa',
      job: 'ghost',
      version: 1,
      host: null,
      desired: 'stop',
      createdAt: 1,
      specAt: v1.createdAt - 1,
    };
    await t.store.put(keys.jobVersion('ghost', 1), JSON.stringify({ ...v1, name: 'ghost' }));
    await t.store.put(keys.task('ghost', forged.id), JSON.stringify(forged));
    const [e] = await watchTasks(client, from, 1, keys.jobTasksPrefix('ghost'));
    assert.deepEqual(e?.value, forged, 'left as stored, without a spec that is not its own');
    await t.store.delete(keys.task('ghost', forged.id));
    await t.store.delete(keys.jobVersion('ghost', 1));
  });
});

/** The first `n` task put events under `prefix` from revision `from`. */
async function watchTasks(
  client: DabbaClient,
  from: number,
  n: number,
  prefix: string = keys.assignmentsPrefix,
): Promise<WatchEventWire[]> {
  const seen: WatchEventWire[] = [];
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 60_000);
  try {
    for await (const batch of client.watch(prefix, from, controller.signal)) {
      seen.push(...batch.filter((e) => e.type === 'put'));
      if (seen.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  assert.ok(seen.length >= n, `saw ${seen.length} of ${n} task events`);
  return seen.slice(0, n);
}

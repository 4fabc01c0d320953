/**
 * DELETE /v1/jobs/NAME?purge=1: a stopped job's records (job, versions, deployments) go in one
 * transaction, refused while the job is active or has tasks; events stay; the name starts again at
 * version 1. Real server and SQLite store, an agent in process on a runtime whose stop can be held.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import type { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { keys } from '../../src/model/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

/** A runtime whose stop() can be held, as a slow container's grace period would. */
class HeldRuntime extends FakeRuntime {
  hold: Promise<void> | undefined;
  override async stop(taskId: string, graceMs: number): Promise<void> {
    await this.hold;
    return super.stop(taskId, graceMs);
  }
}

const isCode = (code: string) => (e: unknown) => e instanceof DabbaError && e.code === code;

describe('purging a job', { timeout: 60_000 }, () => {
  let t: TestServer;
  let client: DabbaClient;
  const runtime = new HeldRuntime();
  let release = (): void => undefined;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    t = await startTestServer('purge');
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
    release();
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await t.close();
  });

  async function keysOf(job: string): Promise<string[]> {
    const prefixes = [
      keys.job(job),
      keys.jobVersionsPrefix(job),
      keys.jobDeploymentsPrefix(job),
      keys.jobTasksPrefix(job),
      keys.jobStatusPrefix(job),
      keys.taskControl(job),
    ];
    const found: string[] = [];
    for (const p of prefixes) {
      const kvs = (await t.store.range(p)).kvs.filter((kv) => kv.key === p || p.endsWith('/'));
      found.push(...kvs.map((kv) => kv.key));
    }
    return found;
  }

  test('refused while active or while tasks are left; then everything goes at once', async () => {
    const spec = (greeting: string) => ({
      name: 'old',
      replicas: 2,
      task: { command: ['sleep', '100'], env: { GREETING: greeting } },
    });
    await client.putJob('old', spec('a'));
    await client.putJob('old', spec('b'));
    await waitFor('2 running', async () => {
      const tasks = await client.jobTasks('old');
      return tasks.length === 2 && tasks.every((x) => x.state === 'running' && x.version === 2)
        ? true
        : undefined;
    });
    // A job of a similar name keeps its records.
    await client.putJob('old-2', { name: 'old-2', replicas: 0, task: { command: ['sleep', '1'] } });

    await assert.rejects(client.purgeJob('old'), (e: unknown) => {
      assert.ok(isCode('DABBA_E_CONFLICT')(e), String(e));
      assert.match((e as Error).message, /is active; stop it first/);
      return true;
    });

    runtime.hold = new Promise((r) => (release = r));
    await client.stopJob('old');
    await waitFor('desired stop', async () =>
      (await client.jobTasks('old')).every((x) => x.desired === 'stop') ? true : undefined,
    );
    await assert.rejects(client.purgeJob('old'), (e: unknown) => {
      assert.ok(isCode('DABBA_E_CONFLICT')(e), String(e));
      assert.match((e as Error).message, /still has 2 tasks/);
      return true;
    });
    assert.equal((await client.getJob('old')).version, 2, 'a refused purge changes nothing');
    assert.equal((await client.jobVersions('old')).length, 2);

    release();
    await waitFor('no task left', async () =>
      (await client.jobTasks('old')).length === 0 ? true : undefined,
    );
    // What a TaskControl controller held up, as the scheduler records it for a job that has one.
    await t.store.put(keys.taskControl('old'), JSON.stringify({ job: 'old', waiting: [] }));
    const before = await keysOf('old');
    assert.ok(before.includes(keys.job('old')) && before.includes(keys.jobVersion('old', 2)), String(before));
    assert.ok(before.includes(keys.taskControl('old')), String(before));

    const rev = await t.store.revision();
    const r = await client.purgeJob('old');
    assert.equal(r.purged, true);
    assert.equal(r.versions, 2);
    assert.ok(r.deployments >= 1, `deployments removed: ${r.deployments}`);
    assert.deepEqual(await keysOf('old'), []);
    // One transaction: every record of the job went at one revision (the scheduler may write other
    // records around it, so the store's revision itself may move by more than one).
    const ac = new AbortController();
    const deleted = new Map<string, number>();
    for await (const batch of t.store.watch('/', { fromRevision: rev + 1, signal: ac.signal })) {
      for (const e of batch) if (e.type === 'delete') deleted.set(e.kv.key, e.kv.modRevision);
      if (deleted.has(keys.job('old'))) break;
    }
    ac.abort();
    const purged = before.map((k) => deleted.get(k));
    assert.ok(
      purged.every((r) => r !== undefined),
      `every record deleted: ${String(before)}`,
    );
    assert.equal(new Set(purged).size, 1, `one revision for all: ${String(purged)}`);

    assert.ok(!(await client.listJobs()).some((j) => j.job === 'old'), 'gone from the job list');
    assert.ok(
      (await client.listJobs()).some((j) => j.job === 'old-2'),
      'old-2 untouched',
    );
    assert.equal((await client.jobVersions('old-2')).length, 1);
    await assert.rejects(client.getJob('old'), isCode('DABBA_E_NOT_FOUND'));
    await assert.rejects(client.jobVersions('old'), isCode('DABBA_E_NOT_FOUND'));
    await assert.rejects(client.purgeJob('old'), isCode('DABBA_E_NOT_FOUND'));

    const events = await client.events({ job: 'old' });
    assert.ok(
      events.some((e) => e.kind === 'JobVersion'),
      'earlier events stay',
    );
    assert.ok(events.some((e) => e.kind === 'JobPurged' && /2 versions removed/.test(e.message)));

    // The name is free again: the next deploy is version 1, with a history of one.
    assert.deepEqual(await client.putJob('old', spec('c')), { job: 'old', version: 1, changed: true });
    assert.deepEqual(
      (await client.jobVersions('old')).map((v) => v.version),
      [1],
    );
    await waitFor('running again', async () => {
      const tasks = await client.jobTasks('old');
      return tasks.length === 2 && tasks.every((x) => x.state === 'running') ? true : undefined;
    });
  });

  test('an unknown job cannot be purged', async () => {
    await assert.rejects(client.purgeJob('never'), isCode('DABBA_E_NOT_FOUND'));
  });
});

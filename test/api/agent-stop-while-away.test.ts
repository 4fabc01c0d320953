/**
 * A job stopped while its host's agent was away: the next agent stops and removes what the previous
 * one left (a running task, or the traces of one that exited) before it reports 'stopped', so the
 * task's record, which the scheduler deletes on that word, outlives every trace of it. Real server and
 * SQLite store; the agent in process on a runtime that survives the agent (as containers do).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import type { DabbaClient } from '../../src/client/index.ts';
import { silentLogger, sleep } from '../../src/lib/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

/** A runtime whose stop() can be held, as a slow container's grace period would. */
class HeldRuntime extends FakeRuntime {
  hold: Promise<void> | undefined;
  stopsCalled = 0;
  override async stop(taskId: string, graceMs: number): Promise<void> {
    this.stopsCalled++;
    await this.hold;
    return super.stop(taskId, graceMs);
  }
}

describe('a job stopped while the agent was away', { timeout: 60_000 }, () => {
  let t: TestServer;
  let client: DabbaClient;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    t = await startTestServer('away');
    client = t.client;
  });
  after(async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
    await t.close();
  });

  async function agent(runtime: FakeRuntime, name: string): Promise<() => Promise<void>> {
    const a = await startAgent({
      client,
      runtime,
      hostId: 'h1',
      labels: {},
      dataDir: join(t.dir, name),
      logger: silentLogger,
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
    });
    const close = (): Promise<void> => a.close();
    closers.push(close);
    return close;
  }

  async function runningTask(job: string): Promise<string> {
    await client.putJob(job, { name: job, replicas: 1, task: { command: ['sleep', '100'] } });
    return waitFor(`${job} running`, async () => {
      const tasks = await client.jobTasks(job);
      const t = tasks[0];
      return tasks.length === 1 && t?.state === 'running' ? t.id : undefined;
    });
  }

  test('running when stopped: stopped and removed before the record goes', async () => {
    const runtime = new HeldRuntime();
    const closeFirst = await agent(runtime, 'a1');
    const id = await runningTask('away');
    await closeFirst(); // the task runs on, as a container outlives its agent
    assert.deepEqual(runtime.running(), [id]);
    await client.stopJob('away');
    await waitFor('desired stop', async () =>
      (await client.jobTasks('away'))[0]?.desired === 'stop' ? true : undefined,
    );

    let release = (): void => undefined;
    runtime.hold = new Promise((r) => (release = r));
    await agent(runtime, 'a2');
    // Released whatever happens (before that agent is closed: closers run last first), so a failed
    // assertion does not leave the agent stuck in a stop.
    closers.push(() => Promise.resolve(release()));
    await waitFor('the new agent stopping it', () =>
      Promise.resolve(runtime.stopsCalled > 0 ? true : undefined),
    );
    // While the stop is held (a grace period), the task is still there and not reported stopped.
    await sleep(1000);
    const during = await client.jobTasks('away');
    assert.equal(during.length, 1, 'the record stays while the process is being stopped');
    assert.notEqual(during[0]?.state, 'stopped');
    release();
    await waitFor('no task left', async () =>
      (await client.jobTasks('away')).length === 0 ? true : undefined,
    );
    assert.deepEqual(runtime.running(), []);
    assert.deepEqual((await runtime.recover()).exited, [], 'its traces are removed too');
  });

  test('exited while away, then stopped: its traces are removed before the record goes', async () => {
    const runtime = new FakeRuntime({ firstPid: 200_000 });
    const closeFirst = await agent(runtime, 'b1');
    const id = await runningTask('gone');
    await closeFirst();
    runtime.exit(id, { exitCode: 1, signal: null, reason: 'Error' });
    await client.stopJob('gone');
    await waitFor('desired stop', async () =>
      (await client.jobTasks('gone'))[0]?.desired === 'stop' ? true : undefined,
    );
    await agent(runtime, 'b2');
    await waitFor('no task left', async () =>
      (await client.jobTasks('gone')).length === 0 ? true : undefined,
    );
    assert.deepEqual((await runtime.recover()).exited, [], 'the exited task was removed from the runtime');
  });
});

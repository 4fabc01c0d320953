/**
 * Events over HTTP: what an agent's status reports say (a start, an exit by SIGKILL with its
 * reason, the restart) becomes events of the task's job, `lastExit` stays on the task after the
 * restart, and `GET /v1/events?follow=1` (the client's followEvents) streams the backlog, then each
 * new event, and resumes from a revision without repeating anything.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaEvent, Task, TaskStatus } from '../../src/model/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

describe('events from task status reports, and following them', { timeout: 30_000 }, () => {
  let s: TestServer;
  let task: Task;
  before(async () => {
    s = await startTestServer('events');
    await s.client.registerHost({
      id: 'h1',
      labels: {},
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 10000 },
      runtime: 'process',
    });
    await s.client.putJob('web', { name: 'web', replicas: 1, task: { command: ['sleep', '100'] } });
    task = await waitFor('the assignment', async () => (await s.client.assignments('h1')).tasks[0]);
  });
  after(() => s.close());

  const report = (fields: Partial<TaskStatus>): Promise<unknown> =>
    s.client.reportStatus({
      id: task.id,
      job: 'web',
      host: 'h1',
      state: 'running',
      healthy: false,
      ready: false,
      restarts: 0,
      updatedAt: Date.now(),
      ...fields,
    });

  test('start, kill by SIGKILL and restart are events; lastExit survives the restart', async (t) => {
    const ac = new AbortController();
    t.after(() => ac.abort());
    const followed: DabbaEvent[] = [];
    const following = (async () => {
      for await (const e of s.client.followEvents({ job: 'web', signal: ac.signal })) followed.push(e);
    })();

    await report({ state: 'running', reason: 'Started', pid: 10, startedAt: 1000 });
    const lastExit = { reason: 'Killed', exitCode: 137, signal: 'SIGKILL', at: 2000 };
    await report({ state: 'failed', reason: 'Killed', restarts: 1, exitCode: 137, lastExit });
    await report({ state: 'running', reason: 'Started', restarts: 1, pid: 11, startedAt: 3000, lastExit });
    // A usage update is not an event.
    await report({
      state: 'running',
      reason: 'Started',
      restarts: 1,
      pid: 11,
      startedAt: 3000,
      lastExit,
      usage: { cpuSeconds: 1, memoryBytes: 1, pids: 1 },
    });

    const row = (await s.client.jobTasks('web')).find((r) => r.id === task.id);
    assert.deepEqual(row?.lastExit, lastExit);
    const mine = (await s.client.events({ job: 'web' })).filter((e) => e.task === task.id);
    assert.deepEqual(
      mine.map((e) => e.kind),
      ['task.created', 'task.started', 'task.exited', 'task.restarted'],
    );
    assert.match(mine.find((e) => e.kind === 'task.exited')?.message ?? '', /killed by SIGKILL \(exit 137\)/);

    await waitFor('the followed events', () =>
      followed.some((e) => e.kind === 'task.restarted') ? true : undefined,
    );
    ac.abort();
    await following;
    const ids = followed.map((e) => e.id);
    assert.equal(new Set(ids).size, ids.length, 'no event twice');
    assert.ok(
      followed.some((e) => e.kind === 'JobVersion'),
      'the backlog came first',
    );
    assert.ok(followed.every((e) => e.job === 'web'));
  });

  test('a follow resumes from a revision: only what came after', async (t) => {
    const res = await fetch(`${s.server.url}/v1/events?follow=1&job=web&limit=1`, {
      headers: { authorization: `Bearer ${s.adminToken}` },
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body?.getReader();
    assert.ok(reader);
    let text = '';
    while (!text.includes('\n\n'))
      text += new TextDecoder().decode((await reader.read()).value as Uint8Array | undefined);
    await reader.cancel();
    const rev = Number(/^id: (\d+)$/m.exec(text)?.[1]);
    assert.ok(rev > 0, text);

    await report({ state: 'stopped', reason: 'Stopped', restarts: 1 });
    const ac = new AbortController();
    t.after(() => ac.abort());
    const got: DabbaEvent[] = [];
    const r2 = await fetch(`${s.server.url}/v1/events?follow=1&job=web&rev=${rev + 1}`, {
      headers: { authorization: `Bearer ${s.adminToken}` },
      signal: ac.signal,
    });
    const reader2 = r2.body?.getReader();
    assert.ok(reader2);
    let buf = '';
    while (!got.some((e) => e.kind === 'task.stopped')) {
      buf += new TextDecoder().decode((await reader2.read()).value as Uint8Array | undefined);
      for (const m of buf.matchAll(/^data: (.*)$/gm)) {
        const e = JSON.parse(m[1] ?? '{}') as DabbaEvent;
        if (!got.some((g) => g.id === e.id)) got.push(e);
      }
    }
    ac.abort();
    assert.ok(!got.some((e) => e.kind === 'task.started'), 'nothing from before the revision');
  });
});

/**
 * The runtime contract for a new runtime instance over the same state (an agent restart), and restarts in place.
 * Part of the runtime contract suite (../contract.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PortSpec } from '../../model/index.ts';
import {
  LOOP,
  taskSpec,
  launch,
  readLogs,
  texts,
  waitForLine,
  waitForGone,
  kill,
  type RuntimeFixture,
} from './fixture.ts';

/** recover: re-adopting running tasks and reporting dead ones (on a fixture of its own). */
export function recoverTests(factory: () => Promise<RuntimeFixture>): void {
  test('recover: a new instance re-adopts running tasks and reports the ones that died', async (t) => {
    const f2 = await factory();
    t.after(() => f2.cleanup());
    const rt1 = f2.runtime;
    const ports: PortSpec[] = [{ name: 'http', port: 8080, protocol: 'tcp' }];
    const a = await launch(t, rt1, f2, `echo hello; ${LOOP}`, { ports });
    const b = await launch(t, rt1, f2, `echo ready; ${LOOP}`);
    await waitForLine(rt1, a.taskId, 'hello');
    await waitForLine(rt1, b.taskId, 'ready');
    await rt1.close();
    kill(f2, b);
    await waitForGone(f2, b);

    const rt2 = await f2.reopen();
    t.after(async () => {
      for (const id of [a.taskId, b.taskId]) {
        await rt2.stop(id, 0);
        await rt2.remove(id);
      }
      await rt2.close();
    });
    const found = await rt2.recover();
    const adopted = found.running.find((h) => h.taskId === a.taskId);
    assert.ok(adopted, 'the running task is re-adopted');
    assert.equal(adopted.pid, a.pid);
    assert.deepEqual(adopted.ports, a.ports);
    assert.equal(adopted.address, a.address);
    assert.ok(!found.running.some((h) => h.taskId === b.taskId));
    const dead = found.exited.find((e) => e.taskId === b.taskId);
    assert.ok(dead, 'the task that died meanwhile is reported as exited');
    assert.ok(dead.status.exitCode === null || dead.status.exitCode === 137, `exit ${dead.status.exitCode}`);
    assert.deepEqual(await rt2.wait(b.taskId), dead.status);

    assert.ok(texts(await readLogs(rt2, a.taskId)).includes('hello'), 'logs survive the restart');
    assert.ok(await rt2.stats(a.taskId), 'stats of a re-adopted task');
    const exec = await rt2.exec(a.taskId, [...f2.shell, 'echo adopted'], 5000);
    assert.equal(exec.exitCode, 0);
    const waiting = rt2.wait(a.taskId);
    await rt2.stop(a.taskId, 1000);
    const status = await waiting;
    assert.ok(status.finishedAt > 0);
    await waitForGone(f2, a);
    await rt2.remove(a.taskId);
    await rt2.remove(b.taskId);
    const again = await rt2.recover();
    assert.deepEqual(
      [...again.running, ...again.exited].filter((x) => x.taskId === a.taskId || x.taskId === b.taskId),
      [],
      'removed tasks are forgotten',
    );
  });
}

/** Restarts in place: the previous run's log, and tasks left between two runs. */
export function restartInPlaceTests(fixture: () => RuntimeFixture): void {
  test("a restart in place keeps the address and the ended run's log as the previous one", async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const first = await launch(t, rt, f, 'echo run one; exit 3');
    const id = first.taskId;
    assert.equal((await rt.wait(id)).exitCode, 3);
    await assert.rejects(readLogs(rt, id, { previous: true }), 'no previous run before a restart');
    await rt.remove(id, { restarting: true });
    assert.deepEqual(texts(await readLogs(rt, id, { previous: true })), ['run one']);
    const second = await rt.start({
      taskId: id,
      job: 'contract',
      version: 1,
      spec: taskSpec(f, `echo run two; ${LOOP}`),
      env: { DABBA_TASK_ID: id },
    });
    assert.equal(second.address, first.address, 'the same address after the restart');
    await waitForLine(rt, id, 'run two');
    assert.deepEqual(texts(await readLogs(rt, id)), ['run two'], 'the current run only');
    assert.deepEqual(texts(await readLogs(rt, id, { previous: true })), ['run one']);
    const again = await (await f.reopen()).recover();
    assert.ok(
      again.running.some((h) => h.taskId === id && h.address === first.address),
      'a new instance adopts it',
    );
    await rt.stop(id, 0);
    await rt.remove(id);
    await assert.rejects(readLogs(rt, id, { previous: true }), 'removed for good: no previous log');
    const after = await (await f.reopen()).recover();
    assert.ok(![...after.running, ...after.exited].some((x) => x.taskId === id), 'forgotten');
  });

  test('a task left between two runs is reported as exited by recover, and removable', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(t, rt, f, 'echo once; exit 0');
    await rt.wait(h.taskId);
    await rt.remove(h.taskId, { restarting: true });
    const rt2 = await f.reopen();
    const found = await rt2.recover();
    assert.ok(
      found.exited.some((x) => x.taskId === h.taskId),
      JSON.stringify(found),
    );
    assert.deepEqual(texts(await readLogs(rt2, h.taskId, { previous: true })), ['once']);
    await rt2.remove(h.taskId);
    const later = await (await f.reopen()).recover();
    assert.ok(![...later.running, ...later.exited].some((x) => x.taskId === h.taskId));
  });
}

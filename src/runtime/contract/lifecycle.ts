/**
 * The runtime contract for a task's life: start, wait, signals, stop and remove.
 * Part of the runtime contract suite (../contract.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../errors/index.ts';
import { LOOP, newTaskId, launch, waitForLine, waitForGone, kill, type RuntimeFixture } from './fixture.ts';

/** Starting tasks and waiting for them: pids, ports, exit codes, signals, missing commands. */
export function startTests(fixture: () => RuntimeFixture): void {
  test('start returns pid, address and ports; wait resolves with the exit code', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const before = Date.now();
    const h = await launch(t, rt, f, 'exit 3', { ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] });
    assert.ok(Number.isInteger(h.pid) && h.pid > 0, `pid ${h.pid}`);
    assert.equal(typeof h.address, 'string');
    assert.ok(h.address.length > 0);
    assert.deepEqual(Object.keys(h.ports), ['http']);
    const port = h.ports['http'] ?? 0;
    assert.ok(Number.isInteger(port) && port > 0 && port < 65536, `port ${port}`);
    assert.ok(h.startedAt >= before - 1000 && h.startedAt <= Date.now() + 1000);
    const status = await rt.wait(h.taskId);
    assert.equal(status.exitCode, 3);
    assert.equal(status.reason, 'Exited');
    assert.equal(status.oomKilled, false);
    assert.ok(status.finishedAt >= h.startedAt - 1000);
    assert.deepEqual(await rt.wait(h.taskId), status, 'wait again gives the same status');
  });

  test('a task killed by a signal reports 128+N', async (t) => {
    const f = fixture();
    const h = await launch(t, f.runtime, f, `echo ready; ${LOOP}`);
    await waitForLine(f.runtime, h.taskId, 'ready');
    kill(f, h);
    const status = await f.runtime.wait(h.taskId);
    assert.equal(status.exitCode, 137);
    assert.notEqual(status.reason, 'Exited');
  });

  test('start of a command that does not exist rejects with CommandNotFound, leaving nothing', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const taskId = newTaskId();
    await assert.rejects(
      launch(t, rt, f, '', { taskId, command: ['dabba-no-such-command-7f3a'] }),
      (e: unknown) => {
        assert.ok(e instanceof RuntimeError, `got ${String(e)}`);
        assert.equal(e.details['reason'], 'CommandNotFound');
        return true;
      },
    );
    assert.equal(await rt.stats(taskId), undefined);
    await assert.rejects(rt.wait(taskId));
    const { running, exited } = await rt.recover();
    assert.ok(!running.some((h) => h.taskId === taskId));
    assert.ok(!exited.some((e) => e.taskId === taskId));
    // The id is free again.
    await launch(t, rt, f, 'exit 0', { taskId });
    assert.equal((await rt.wait(taskId)).exitCode, 0);
  });
}

/** Stopping and removing tasks: grace periods, idempotence, nothing left behind. */
export function stopTests(fixture: () => RuntimeFixture): void {
  test('stop kills a task that ignores SIGTERM once the grace period is over', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(t, rt, f, `trap "" TERM; echo ready; ${LOOP}`);
    await waitForLine(rt, h.taskId, 'ready');
    const t0 = Date.now();
    await rt.stop(h.taskId, 400);
    const took = Date.now() - t0;
    assert.ok(took >= 350, `stopped after ${took}ms, before the 400ms grace period`);
    assert.ok(took < 4000, `stop took ${took}ms`);
    const status = await rt.wait(h.taskId);
    assert.equal(status.exitCode, 137);
  });

  test('stop is quick for a task that exits on SIGTERM; stop and remove are idempotent', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(t, rt, f, `trap "exit 143" TERM; echo ready; ${LOOP}`);
    await waitForLine(rt, h.taskId, 'ready');
    const t0 = Date.now();
    await Promise.all([rt.stop(h.taskId, 5000), rt.stop(h.taskId, 5000)]);
    const took = Date.now() - t0;
    assert.ok(took < 2500, `stop took ${took}ms despite the task exiting on SIGTERM`);
    assert.equal((await rt.wait(h.taskId)).exitCode, 143);
    const t1 = Date.now();
    await rt.stop(h.taskId, 5000);
    assert.ok(Date.now() - t1 < 1000, 'stopping a stopped task returns at once');
    await rt.remove(h.taskId);
    await rt.remove(h.taskId);
    await rt.stop(h.taskId, 100);
    await rt.stop('ct-never-existed', 100);
    await rt.remove('ct-never-existed');
  });

  test('no process is left after stop and remove', async (t) => {
    const f = fixture();
    const rt = f.runtime;
    const h = await launch(t, rt, f, `sleep 30 & echo ready; ${LOOP}`);
    await waitForLine(rt, h.taskId, 'ready');
    await rt.stop(h.taskId, 200);
    await rt.remove(h.taskId);
    await waitForGone(f, h);
    await assert.rejects(rt.wait(h.taskId), 'a removed task is unknown');
    assert.equal(await rt.stats(h.taskId), undefined);
  });
}

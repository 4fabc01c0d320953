/**
 * TaskRunner against a scripted runtime whose start/stop/remove/exec can be held at chosen points,
 * to pin down the races between TaskRunner.stop() (or detach()) and the restart paths: once the
 * runner is told to stop it never calls runtime.start again, leaves no process running, and reports
 * nothing but its final 'stopped'.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { harness, within, settle, mark, running, assertStopped } from './task-runner-harness.ts';

// ---- (3) a start in flight ----------------------------------------------------------------------

test('stop() while runtime.start is in flight: waits for it, then stops what it started', async (t) => {
  const h = await harness(t);
  const starting = h.rt.hold('start');
  h.runner.start();
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  await settle();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.deepEqual(h.rt.calls.slice(h.rt.calls.indexOf('start returned')), [
    'start returned',
    'stop',
    'remove',
  ]);
});

test('stop() while runtime.start is in flight and then fails: no retry', async (t) => {
  const h = await harness(t);
  const starting = h.rt.hold('start');
  h.rt.startFails = 'StartFailed';
  h.runner.start();
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while the image is made available for the first start: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1' });
  const image = h.images.hold();
  h.runner.start();
  await image.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  image.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 0);
});

test('a task the mesh routes to is drained before SIGTERM: stop waits, then stops it', async (t) => {
  const h = await harness(t, { stopGracePeriodMs: 5000 }, 300);
  h.runner.start();
  await running(h);
  const t0 = Date.now();
  const stopped = h.runner.stop();
  await settle();
  assert.ok(h.rt.alive, 'still running while drained');
  assert.ok(!h.rt.calls.includes('stop'));
  await within(stopped, 5000, 'stop after the drain');
  assert.ok(Date.now() - t0 >= 300);
  assert.ok(h.logs.includes('draining before stop'));
  assert.ok(!h.rt.alive);
});

test('start() after stop() does nothing', async (t) => {
  const h = await harness(t);
  const m = mark(h);
  await h.runner.stop();
  h.runner.start();
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 0);
});

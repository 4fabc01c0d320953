/**
 * TaskRunner against a scripted runtime whose start/stop/remove/exec can be held at chosen points,
 * to pin down the races between TaskRunner.stop() (or detach()) and the restart paths: once the
 * runner is told to stop it never calls runtime.start again, leaves no process running, and reports
 * nothing but its final 'stopped'.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  liveness,
  harness,
  within,
  settle,
  mark,
  running,
  until,
  assertStopped,
  assertDetached,
} from './task-runner-harness.ts';

// ---- (1) liveness restarts overlapping stop() -------------------------------------------------

test('stop() while a liveness restart is stopping the process: no start, nothing left', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const killing = h.rt.hold('stop');
  h.rt.execFails = true;
  await killing.reached; // the liveness restart's runtime.stop is in flight
  const m = mark(h);
  const stopping = h.runner.stop();
  killing.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart books the restart (state file write): no late status', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const write = h.memory.writes.hold();
  h.rt.execFails = true;
  await write.reached; // killed and exited; the restart is being recorded
  assert.equal(h.rt.alive, false);
  const m = mark(h);
  const stopping = h.runner.stop();
  write.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart clears the old process (runtime.remove): no start', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const clearing = h.rt.hold('remove');
  h.rt.execFails = true;
  await clearing.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  clearing.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart makes the image available: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1', health: { liveness } });
  h.runner.start();
  await running(h);
  const image = h.images.hold();
  h.rt.execFails = true;
  await image.reached; // old process gone, backoff over, about to start the new one
  assert.equal(h.rt.alive, false);
  const m = mark(h);
  const stopping = h.runner.stop();
  image.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 1);
});

test('stop() while a liveness restart is starting the new process: stop waits and stops it', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const starting = h.rt.hold('start');
  h.rt.execFails = true;
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  await settle();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.deepEqual(h.rt.calls.slice(h.rt.calls.lastIndexOf('start returned')), [
    'start returned',
    'stop',
    'remove',
  ]);
});

// ---- (2) restart backoff ------------------------------------------------------------------------

test('stop() during the restart backoff ends it at once and starts nothing', async (t) => {
  const h = await harness(t, {
    restart: { policy: 'always', initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  await until(h, () => h.runner.status.nextRestartAt !== undefined);
  await settle(); // runtime.remove done: sleeping out the backoff
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop() during a 60 s backoff');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 1);
});

test('detach() during the restart backoff starts nothing and reports nothing', async (t) => {
  const h = await harness(t, {
    restart: { policy: 'always', initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  await until(h, () => h.runner.status.nextRestartAt !== undefined);
  await settle();
  const m = mark(h);
  h.runner.detach();
  await assertDetached(h, m);
});

test('detach() while a restart makes the image available: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1' });
  h.runner.start();
  await running(h);
  const image = h.images.hold();
  h.rt.exit(1);
  await image.reached;
  const m = mark(h);
  h.runner.detach();
  image.release();
  await assertDetached(h, m);
});

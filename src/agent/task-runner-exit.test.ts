/**
 * TaskRunner against a scripted runtime whose start/stop/remove/exec can be held at chosen points,
 * to pin down the races between TaskRunner.stop() (or detach()) and the restart paths: once the
 * runner is told to stop it never calls runtime.start again, leaves no process running, and reports
 * nothing but its final 'stopped'.
 */
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
  type Mark,
} from './task-runner-harness.ts';

// ---- (4) exits around stop() ----------------------------------------------------------------------

test('an exit delivered while stop() is stopping the process: no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const stopCall = h.rt.hold('stop');
  const m = mark(h);
  const stopping = h.runner.stop();
  await stopCall.reached;
  h.rt.exit(1); // the process ends by itself while the SIGTERM is on its way
  await settle();
  stopCall.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit delivered in the same turn as stop(): no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit being handled (restart being booked) when stop() comes: no late status, no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const write = h.memory.writes.hold();
  h.rt.exit(1);
  await write.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  write.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit with restart policy never, then stop(): ends with stopped', async (t) => {
  const h = await harness(t, { restart: { policy: 'never', initialBackoffMs: 1, maxBackoffMs: 1 } });
  h.runner.start();
  await running(h);
  h.rt.exit(3);
  await until(h, () => h.runner.status.state === 'failed');
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop()');
  await assertStopped(h, m);
});

// ---- (5) probe failures around stop() -------------------------------------------------------------

test('a liveness failure reported after stop() began: ignored', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const probe = h.rt.hold('exec');
  await probe.reached; // a liveness probe is in flight
  const m = mark(h);
  const stopping = h.runner.stop();
  h.rt.execFails = true;
  probe.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('a liveness failure in the same turn as stop(): no liveness restart', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  let m: Mark | undefined;
  let stopping: Promise<void> | undefined;
  // The moment the failure is reported (the liveness kill has just been signalled), stop.
  h.reporter.onReport = (s) => {
    if (stopping === undefined && s.message?.startsWith('liveness probe failing') === true) {
      m = mark(h);
      stopping = h.runner.stop();
    }
  };
  h.rt.execFails = true;
  await until(h, () => stopping !== undefined);
  await within(stopping!, 2000, 'stop()');
  await assertStopped(h, m!);
});

test('a usage refresh finishing after stop() began reports nothing', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const stats = h.rt.hold('stats');
  const refreshing = h.runner.refreshUsage();
  await stats.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  stats.release();
  await refreshing;
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

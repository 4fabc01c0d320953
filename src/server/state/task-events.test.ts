import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TaskStatus } from '../../model/index.ts';
import { statusEvents } from './task-events.ts';

const base: TaskStatus = {
  id: 'web-abcde',
  job: 'web',
  host: 'h1',
  state: 'starting',
  healthy: false,
  ready: false,
  restarts: 0,
  updatedAt: 1,
};

const kinds = (prev: TaskStatus | undefined, next: TaskStatus): string[] =>
  statusEvents(prev, next).map((e) => e.kind);

test('a first start, a kill by SIGKILL with its restart, and a stop are events; usage updates are not', () => {
  const running: TaskStatus = {
    ...base,
    state: 'running',
    reason: 'Started',
    pid: 10,
    address: '10.88.0.3',
    startedAt: 100,
  };
  assert.deepEqual(kinds(base, running), ['task.started']);
  assert.deepEqual(kinds(running, { ...running, usage: { cpuSeconds: 1, memoryBytes: 2, pids: 1 } }), []);
  assert.deepEqual(kinds(running, { ...running, healthy: true, ready: true }), []);

  const killed: TaskStatus = {
    ...running,
    state: 'failed',
    reason: 'Killed',
    restarts: 1,
    exitCode: 137,
    lastExit: { reason: 'Killed', exitCode: 137, signal: 'SIGKILL', at: 200 },
    nextRestartAt: 700,
  };
  const [exit] = statusEvents(running, killed);
  assert.equal(exit?.kind, 'task.exited');
  assert.equal(exit.task, 'web-abcde');
  assert.equal(exit.job, 'web');
  assert.equal(exit.host, 'h1');
  assert.match(exit.message, /killed by SIGKILL \(exit 137\); restarting in 0\.5s/);
  // Machine-readable too (the events log table's reason and exit_code columns).
  assert.deepEqual([exit.reason, exit.exitCode], ['Killed', 137]);
  // The same exit reported again (a retry) is not a new event.
  assert.deepEqual(kinds(killed, { ...killed, updatedAt: 5 }), []);

  const starting: TaskStatus = { ...killed, state: 'starting', reason: 'Starting' };
  assert.deepEqual(kinds(killed, starting), []);
  const again: TaskStatus = { ...starting, state: 'running', reason: 'Started', pid: 11, startedAt: 800 };
  const [restart] = statusEvents(starting, again);
  assert.equal(restart?.kind, 'task.restarted');
  assert.match(restart.message, /restart 1 after killed by SIGKILL/);

  assert.deepEqual(kinds(again, { ...again, state: 'stopped', reason: 'Stopped' }), ['task.stopped']);
});

test('liveness failures, OOM kills and failed starts are named as such', () => {
  const at = (reason: string, extra: Partial<TaskStatus['lastExit']> = {}): TaskStatus => ({
    ...base,
    state: 'failed',
    lastExit: { reason, at: 5, ...extra },
  });
  assert.deepEqual(kinds(base, at('LivenessFailed', { signal: 'SIGTERM', exitCode: 143 })), ['task.killed']);
  assert.match(
    statusEvents(base, at('OOMKilled', { exitCode: 137 }))[0]?.message ?? '',
    /OOMKilled \(exit 137\)/,
  );
  assert.deepEqual(kinds(base, at('ImageNotFound')), ['task.start-failed']);
  assert.match(statusEvents(base, at('Exited', { exitCode: 3 }))[0]?.message ?? '', /exit code 3/);
});

test('a task re-adopted by a restarted agent is an adoption, not a start', () => {
  const adopted: TaskStatus = { ...base, state: 'running', reason: 'Adopted', pid: 9, startedAt: 50 };
  assert.deepEqual(kinds(undefined, adopted), ['task.adopted']);
});

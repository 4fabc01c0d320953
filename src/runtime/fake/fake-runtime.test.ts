import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RuntimeError } from '../../errors/index.ts';
import type { TaskSpec } from '../../model/index.ts';
import type { LogLine, TaskLaunch } from '../runtime.ts';
import { runtimeContract } from '../contract.ts';
import { FakeHost, FakeRuntime } from './index.ts';

// The programs of the fake host the contract's tasks run (everything else is not found).
const PROGRAMS = new Set(['sh', '/bin/sh', 'true', 'false', 'echo', 'sleep']);

runtimeContract('fake', () => {
  const host = new FakeHost();
  const make = (): FakeRuntime => new FakeRuntime({ host, commandExists: (c) => PROGRAMS.has(c) });
  const runtime = make();
  return Promise.resolve({
    runtime,
    shell: ['sh', '-c'],
    interactiveExec: false,
    reopen: () => Promise.resolve(make()),
    kill: (h, signal) => runtime.signal(h.taskId, signal),
    gone: (h) => !runtime.running().includes(h.taskId),
    cleanup: async () => {
      for (const id of runtime.running()) await runtime.stop(id, 0);
    },
  });
});

const spec: TaskSpec = {
  command: ['serve'],
  env: {},
  resources: { cpu: 0.5, memoryBytes: 64 * 1024 * 1024, pids: 10 },
  ports: [
    { name: 'http', port: 8080, protocol: 'tcp' },
    { name: 'admin', port: 9090, protocol: 'tcp' },
  ],
  health: {},
  restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
  stopGracePeriodMs: 1000,
};
const launch = (taskId: string): TaskLaunch => ({ taskId, job: 'j', version: 1, spec, env: {} });

test('start answers at once with distinct pids and ports; wait resolves on stop', async () => {
  const rt = new FakeRuntime();
  const a = await rt.start(launch('a'));
  const b = await rt.start(launch('b'));
  assert.notEqual(a.pid, b.pid);
  assert.deepEqual(Object.keys(a.ports).sort(), ['admin', 'http']);
  assert.notEqual(a.ports['http'], b.ports['http']);
  assert.deepEqual(rt.running().sort(), ['a', 'b']);
  let settled = false;
  const waiting = rt.wait('a').then((s) => ((settled = true), s));
  await new Promise((r) => setImmediate(r));
  assert.equal(settled, false, 'wait must not resolve while the task runs');
  await rt.stop('a', 1000);
  const status = await waiting;
  assert.equal(status.exitCode, 143);
  assert.deepEqual(rt.running(), ['b']);
  assert.deepEqual(
    (await rt.recover()).exited.map((e) => e.taskId),
    ['a'],
  );
  await rt.remove('a');
  await rt.remove('a');
  await assert.rejects(rt.wait('a'), RuntimeError);
  assert.equal(await rt.stats('a'), undefined);
  const usage = await rt.stats('b');
  assert.ok(usage && usage.memoryBytes > 0 && usage.pids === 1, JSON.stringify(usage));
});

test('exit() ends a task with the given status; failStart rejects with a reason', async () => {
  const rt = new FakeRuntime({ failStart: (l) => (l.taskId === 'bad' ? 'ImageNotFound' : undefined) });
  await assert.rejects(rt.start(launch('bad')), (e: unknown) => {
    assert.ok(e instanceof RuntimeError);
    assert.equal(e.details?.['reason'], 'ImageNotFound');
    return true;
  });
  await rt.start(launch('c'));
  rt.exit('c', { exitCode: 137, oomKilled: true });
  const s = await rt.wait('c');
  assert.equal(s.reason, 'OOMKilled');
  assert.equal(s.exitCode, 137);
});

test('logs: tail, and follow until the task exits', async () => {
  const rt = new FakeRuntime();
  await rt.start(launch('l'));
  rt.emit('l', 'one');
  rt.emit('l', 'two', 'stderr');
  const tail: LogLine[] = [];
  for await (const line of rt.logs('l', { tail: 1 })) tail.push(line);
  assert.deepEqual(
    tail.map((l) => [l.stream, l.text]),
    [['stderr', 'two']],
  );
  const followed: string[] = [];
  const reading = (async () => {
    for await (const line of rt.logs('l', { follow: true })) followed.push(line.text);
  })();
  await new Promise((r) => setImmediate(r));
  rt.emit('l', 'three');
  await rt.stop('l', 0);
  await reading;
  assert.deepEqual(followed, ['one', 'two', 'three']);
});

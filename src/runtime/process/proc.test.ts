import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FreshProcScan, readStat, SharedProcScan, type ProcStat } from './proc.ts';

test('a shared scan of /proc serves every caller within its age, then scans again', async () => {
  let now = 0;
  let scans = 0;
  const fake = (session: number): ProcStat => ({
    pid: 100 + session,
    state: 'S',
    ppid: 1,
    pgrp: session,
    session,
    cpuTicks: 0,
    childCpuTicks: 0,
    threads: 1,
    startTime: 1,
  });
  const scan = new SharedProcScan({
    maxAgeMs: 500,
    now: () => now,
    scan: () => {
      scans++;
      return Promise.resolve([fake(1), fake(2), fake(2)]);
    },
  });
  // Twenty tasks' usage asked at once, some while the first scan is still running: one scan.
  const members = await Promise.all(Array.from({ length: 20 }, (_, i) => scan.sessionMembers(1 + (i % 2))));
  assert.equal(scans, 1);
  assert.deepEqual(
    members.slice(0, 2).map((m) => m.length),
    [1, 2],
  );
  now = 400;
  await scan.sessionMembers(1);
  assert.equal(scans, 1);
  now = 901;
  await scan.sessionMembers(1);
  assert.equal(scans, 2);
});

test('the real scan finds this process in its own session', async () => {
  const me = await readStat(process.pid);
  assert.ok(me);
  const members = await new SharedProcScan().sessionMembers(me.session);
  assert.ok(members.some((m) => m.pid === process.pid));
});

test('a fresh scan: callers that ask while one runs share the next, begun after they asked', async () => {
  const started: number[] = [];
  const finish: ((v: ProcStat[]) => void)[] = [];
  const fail: ((e: Error) => void)[] = [];
  const scan = new FreshProcScan(
    () =>
      new Promise<ProcStat[]>((resolve, reject) => {
        started.push(started.length);
        finish.push(resolve);
        fail.push(reject);
      }),
  );
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  const first = scan.processes();
  assert.deepEqual(started, [0]);
  // Asked while scan 0 runs: it may miss what they wait for, so they get scan 1, one for all.
  const waiting = Array.from({ length: 10 }, () => scan.processes());
  await tick();
  assert.deepEqual(started, [0], 'no second scan while the first runs');
  finish[0]?.([]);
  assert.deepEqual(await first, []);
  await tick();
  assert.deepEqual(started, [0, 1]);
  // Asked while scan 1 runs: scan 2 (not scan 1, which began before).
  const later = scan.processes();
  const one = [{ pid: 7 } as ProcStat];
  finish[1]?.(one);
  for (const w of waiting) assert.equal(await w, one);
  await tick();
  assert.deepEqual(started, [0, 1, 2]);
  // A failed scan fails its own callers only; those waiting for the next get it.
  const afterFailure = scan.processes();
  fail[2]?.(new Error('EMFILE'));
  await assert.rejects(later, /EMFILE/);
  await tick();
  finish[3]?.([]);
  assert.deepEqual(await afterFailure, []);
  assert.deepEqual(started, [0, 1, 2, 3]);
});

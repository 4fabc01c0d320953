import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readStat, SharedProcScan, type ProcStat } from './proc.ts';

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

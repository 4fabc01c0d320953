/**
 * The recorder against what a host does to it: processes that vanish between two snapshots or while
 * being read, /proc entries it cannot read, and a full disk. Real processes, a real procfs, and a
 * real (tiny) tmpfs for the full disk.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { sleep } from '../../src/lib/index.ts';
import { HistoryFiles, HostHistoryRecorder, ProcReader } from '../../src/telemetry/hosthistory/index.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

function start(script: string): ChildProcess {
  return spawn('sh', ['-c', script], { stdio: 'ignore' });
}

async function killAll(children: ChildProcess[]): Promise<void> {
  const exits: Promise<unknown>[] = [];
  for (const c of children)
    if (c.exitCode === null && c.signalCode === null) {
      exits.push(new Promise((r) => c.once('exit', r)));
      c.kill('SIGKILL');
    }
  await Promise.all(exits);
}

test("a process that vanishes leaves the next snapshot; its task's children are attributed by ancestry", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-hosthistory-faults-'));
  const busy = start('while :; do :; done');
  const parent = start('sleep 300 & wait');
  const children = [busy, parent];
  try {
    assert.ok(busy.pid !== undefined && parent.pid !== undefined);
    const tasks = [
      { id: 'spin-aaaaa', job: 'team:spin', pid: busy.pid },
      { id: 'idle-bbbbb', job: 'idle', pid: parent.pid },
    ];
    const rec = new HostHistoryRecorder({ hostId: 'h', dir, tasks: () => tasks });
    rec.tick();
    await sleep(1000);
    rec.tick();
    const before = rec.snapshotAt(Date.now());
    assert.ok(before);
    const spin = before.processes.find((p) => p.pid === busy.pid);
    assert.equal(spin?.task, 'spin-aaaaa');
    assert.equal(spin.job, 'spin');
    assert.equal(spin.namespace, 'team');
    assert.ok(spin.cpuPercent > 0);
    // The sleep is the child of the idle task's shell: attributed to it through its parent.
    const sleeper = before.processes.find((p) => p.ppid === parent.pid && p.command.startsWith('sleep'));
    assert.equal(sleeper?.task, 'idle-bbbbb');
    assert.ok(before.processes.some((p) => p.pid === process.pid && p.task === undefined));

    await killAll([busy]);
    await sleep(1000);
    rec.tick();
    const after = rec.snapshotAt(Date.now());
    assert.ok(after && after.time > before.time);
    assert.equal(
      after.processes.find((p) => p.pid === busy.pid),
      undefined,
    );
    // The earlier snapshot still has it (prev of the latest one).
    assert.equal(after.prev, before.time);
    assert.ok(rec.snapshotAt(after.time, 'prev')?.processes.some((p) => p.pid === busy.pid));
  } finally {
    await killAll(children);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('unreadable or half-gone /proc entries are skipped, never thrown', () => {
  const root = mkdtempSync(join(tmpdir(), 'dabba-hosthistory-proc-'));
  try {
    const proc = join(root, 'proc');
    const stat = (pid: number, comm: string): string =>
      `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000000 250 18446744073709551615`;
    // 10: complete; 11: gone after its directory was listed (no files); 12: stat but no io (not
    // ours to read); 13: garbage stat; 14: a command name with spaces and parentheses.
    for (const pid of [10, 11, 12, 13, 14]) mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, '10', 'stat'), stat(10, 'worker'));
    writeFileSync(join(proc, '10', 'io'), 'rchar: 5\nread_bytes: 4096\nwrite_bytes: 8192\n');
    writeFileSync(join(proc, '12', 'stat'), stat(12, 'other'));
    writeFileSync(join(proc, '13', 'stat'), 'garbage');
    writeFileSync(join(proc, '14', 'stat'), stat(14, 'a (b) c'));
    const reader = new ProcReader({ proc, sys: join(root, 'sys') });
    const procs = reader.processes();
    assert.deepEqual(
      procs.map((p) => [p.pid, p.comm, p.cpuTicks, p.rssKb, p.readBytes, p.writeBytes]),
      [
        [10, 'worker', 10, 1000, 4096, 8192],
        [12, 'other', 10, 1000, 0, 0],
        [14, 'a (b) c', 10, 1000, 0, 0],
      ],
    );
    assert.equal(reader.commandLine(11, 'gone'), '[gone]');
    assert.deepEqual(reader.cgroups(11), []);
    // No /proc/stat, meminfo, diskstats...: zeros, not an error.
    assert.equal(reader.host().cpus, 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a full disk loses blocks, not the recorder; writing resumes once there is room', async () => {
  const fs = await Tmpfs.mount('1m');
  try {
    const dir = join(fs.dir, 'history');
    const rec = new HostHistoryRecorder({ hostId: 'h', dir, tasks: () => [], samplesPerBlock: 2 });
    await fs.fill('filler');
    for (let i = 0; i < 5; i++) rec.tick();
    assert.ok(rec.stats.failedWrites > 0, JSON.stringify(rec.stats));
    assert.equal(rec.stats.blocks, 0);
    rmSync(join(fs.dir, 'filler'));
    for (let i = 0; i < 4; i++) rec.tick();
    assert.ok(rec.stats.blocks >= 1, JSON.stringify(rec.stats));
    assert.ok(new HistoryFiles(dir).blocks().length >= 1);
    assert.ok(rec.snapshotAt(Date.now()));
  } finally {
    await fs.destroy();
  }
});

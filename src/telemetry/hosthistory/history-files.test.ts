import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../lib/index.ts';
import { decodeBlock, encodeBlock } from './block-codec.ts';
import { HistoryFiles, hourFileName } from './history-files.ts';
import { HostHistoryRecorder } from './recorder.ts';
import type { Sample } from './sample.ts';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;

function withDir(fn: (dir: string) => void): () => void {
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'dabba-hosthistory-test-'));
    try {
      fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const sample = (time: number, n = 50): Sample => ({
  time,
  intervalMs: 5_000,
  host: {
    cpus: 2,
    cpuTicks: [1, 0, 1, 998, 0, 0, 0, 0],
    load: [0, 0, 0],
    memKb: [1, 1, 1, 1, 0, 0],
    diskReadBytes: 0,
    diskWriteBytes: 0,
    netRxBytes: 0,
    netTxBytes: 0,
  },
  // Distinct commands: a block of some size on disk.
  processes: Array.from({ length: n }, (_, i) => ({
    pid: i + 1,
    ppid: 1,
    state: 'S',
    command: `proc-${time}-${i}`,
    cpuTicks: i,
    rssKb: i,
    readBytes: 0,
    writeBytes: 0,
  })),
});

test(
  'hourly files: blocks go to the hour of their first sample; over budget or age the oldest hours go, never the newest',
  withDir((dir) => {
    const files = new HistoryFiles(dir);
    for (let h = 0; h < 6; h++)
      for (let m = 0; m < 3; m++) {
        const t = T0 + h * HOUR + m * 60_000;
        files.append(t, t + 55_000, encodeBlock([sample(t)]));
      }
    assert.equal(files.files().length, 6);
    assert.equal(files.files()[0], hourFileName(T0));
    assert.equal(files.blocks().length, 18);
    const perFile = statSync(join(dir, hourFileName(T0))).size;
    // Budget for 3.5 files: the 3 oldest go.
    const deleted = files.enforce(Math.floor(perFile * 3.5), 1000 * HOUR, T0 + 6 * HOUR);
    assert.deepEqual(
      deleted,
      [0, 1, 2].map((h) => hourFileName(T0 + h * HOUR)),
    );
    assert.ok(files.totalBytes() <= perFile * 3.5);
    // Age: hours that ended more than 2 h ago go, within budget.
    assert.deepEqual(files.enforce(Infinity, 2 * HOUR, T0 + 6 * HOUR + 1), [hourFileName(T0 + 3 * HOUR)]);
    // A budget of nothing still keeps the hour being written.
    files.enforce(0, 0, T0 + 100 * HOUR);
    assert.deepEqual(files.files(), [hourFileName(T0 + 5 * HOUR)]);
    assert.equal(files.blocks().length, 3);
  }),
);

test(
  'a torn record at the end of a file (a crash mid-append) hides only itself',
  withDir((dir) => {
    const files = new HistoryFiles(dir);
    files.append(T0, T0 + 5_000, encodeBlock([sample(T0), sample(T0 + 5_000)]));
    const whole = encodeBlock([sample(T0 + 60_000)]);
    files.append(T0 + 60_000, T0 + 60_000, whole);
    const path = join(dir, hourFileName(T0));
    const size = statSync(path).size;
    rmSync(path);
    const again = new HistoryFiles(dir);
    again.append(T0, T0 + 5_000, encodeBlock([sample(T0), sample(T0 + 5_000)]));
    // The second record, cut in the middle.
    appendFileSync(path, Buffer.alloc(24 + Math.floor(whole.length / 2)));
    assert.ok(statSync(path).size < size);
    const blocks = again.blocks();
    assert.equal(blocks.length, 1);
    const [b] = blocks;
    assert.ok(b);
    assert.deepEqual(
      decodeBlock(again.read(b)).map((s) => s.time),
      [T0, T0 + 5_000],
    );
  }),
);

test(
  'the block being filled survives a crash: a new recorder on the same directory finds its samples',
  withDir((dir) => {
    const clock = new ManualClock(T0);
    const rec = new HostHistoryRecorder({ hostId: 'h1', dir, tasks: () => [], clock, samplesPerBlock: 12 });
    for (let i = 0; i < 4; i++) {
      rec.tick();
      clock.advance(5_000);
    }
    // 3 samples (the first tick primes), none flushed as a full block: only open.blk holds them.
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.endsWith('.hist')),
      [],
    );
    const after = new HostHistoryRecorder({ hostId: 'h1', dir, tasks: () => [], clock });
    const s = after.snapshotAt(T0 + 10_000);
    assert.equal(s?.time, T0 + 10_000);
    assert.equal(s.prev, T0 + 5_000);
    assert.equal(s.next, T0 + 15_000);
    assert.ok(s.processes.some((p) => p.pid === process.pid));
    assert.equal(after.snapshotAt(T0 + 10_000, 'prev')?.time, T0 + 5_000);
    assert.equal(after.snapshotAt(T0 + 5_000, 'prev'), undefined);
  }),
);

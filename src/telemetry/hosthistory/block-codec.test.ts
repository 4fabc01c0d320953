import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeBlock, encodeBlock } from './block-codec.ts';
import type { HostSample, ProcessSample, Sample } from './sample.ts';

const host = (i: number): HostSample => ({
  cpus: 2,
  cpuTicks: [10 + i, 0, 5, 180, 1, 0, 1, 0],
  load: [0.5, 0.25, 0.12],
  memKb: [4_000_000, 3_000_000, 1_000_000, 500_000, 0, 0],
  diskReadBytes: 4096 * i,
  diskWriteBytes: 0,
  netRxBytes: 100,
  netTxBytes: 50,
  pressure: [1.5, 0, 0.25],
});

const proc = (pid: number, over: Partial<ProcessSample> = {}): ProcessSample => ({
  pid,
  ppid: 1,
  state: 'S',
  command: `/usr/bin/worker --id ${pid}`,
  cpuTicks: 0,
  rssKb: 1000 + pid,
  readBytes: 0,
  writeBytes: 0,
  ...over,
});

test('a block round-trips: idle processes carried, vanished ones dropped, a reused pid is the new process', () => {
  const samples: Sample[] = [
    {
      time: 1_000,
      intervalMs: 5_000,
      host: host(0),
      processes: [proc(10), proc(11, { cpuTicks: 500, task: 'web-abcde', job: 'team:web' }), proc(12)],
    },
    // 10 idle (carried), 11 busy, 12 vanished, 13 born
    {
      time: 6_000,
      intervalMs: 5_000,
      host: host(1),
      processes: [proc(10), proc(11, { cpuTicks: 499, task: 'web-abcde', job: 'team:web' }), proc(13)],
    },
    // 11 goes idle (its CPU must read 0 again, not 499), 13's pid now a different program
    {
      time: 11_000,
      intervalMs: 5_000,
      host: { ...host(2), pressure: undefined } as unknown as HostSample,
      processes: [
        proc(10, { state: 'R', readBytes: 8192 }),
        proc(11, { task: 'web-abcde', job: 'team:web' }),
        proc(13, { command: 'sh -c sleep 1', rssKb: 3 }),
      ],
    },
  ];
  // The third host sample has no pressure field at all (no /proc/pressure).
  const third = samples[2];
  assert.ok(third);
  delete third.host.pressure;
  const decoded = decodeBlock(encodeBlock(samples));
  const sortByPid = (s: Sample): Sample => ({
    ...s,
    processes: [...s.processes].sort((a, b) => a.pid - b.pid),
  });
  assert.deepEqual(decoded.map(sortByPid), samples.map(sortByPid));
});

test('delta frames cost little: 300 idle processes and 3 busy ones over 60 samples', () => {
  const idle = Array.from({ length: 300 }, (_, i) =>
    proc(100 + i, { command: `/usr/sbin/daemon-${i % 40} --flag` }),
  );
  const samples: Sample[] = Array.from({ length: 60 }, (_, i) => ({
    time: i * 5_000,
    intervalMs: 5_000,
    host: host(i),
    processes: [
      ...idle,
      ...[1, 2, 3].map((k) => proc(k, { cpuTicks: 100 + ((i * k) % 7), rssKb: 5000 + i })),
    ],
  }));
  const one = encodeBlock(samples.slice(0, 1)).length;
  const all = encodeBlock(samples).length;
  // Against 60 key frames (every process in every sample), delta frames are a tenth or less.
  assert.ok(all * 10 < 60 * one, `60 samples: ${all} bytes, one key frame alone ${one}`);
  assert.deepEqual(decodeBlock(encodeBlock(samples)).at(-1)?.processes.length, 303);
});

test('a block that is not one is refused', () => {
  assert.throws(() => decodeBlock(Buffer.from('not zstd')));
});

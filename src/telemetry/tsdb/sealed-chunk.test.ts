import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../lib/index.ts';
import { BlockReader } from './block-file.ts';
import { HOUR_MS, TimeSeriesStore } from './index.ts';
import { seriesId, seriesKey } from './labels.ts';
import { GorillaEncoder } from './gorilla.ts';
import { decodeSealed, sealChunk } from './sealed-chunk.ts';
import { FIXTURE_POINTS, FIXTURE_SERIES, FIXTURE_T0 } from './testdata/old-chunks-points.ts';

const FIXTURE = join(import.meta.dirname, 'testdata', 'old-chunks');

test('blocks written by the session 8 encoder (modes xor, delta, dod) still decode bit for bit', () => {
  const found = new Map<string, { ts: number[]; vs: number[] }>();
  const modes = new Set<number>();
  for (const file of readdirSync(join(FIXTURE, 'raw')).sort()) {
    const block = new BlockReader(join(FIXTURE, 'raw', file));
    try {
      for (const id of block.ids()) {
        const s = block.series(id)!;
        modes.add(s.bytes[0]!);
        const ts = new Float64Array(s.count);
        const vs = new Float64Array(s.count);
        assert.equal(decodeSealed(s.bytes, s.count, ts, vs), true, `${file} ${id}`);
        const acc = found.get(id) ?? { ts: [], vs: [] };
        acc.ts.push(...ts);
        acc.vs.push(...vs);
        found.set(id, acc);
      }
    } finally {
      block.close();
    }
  }
  assert.deepEqual([...modes].sort(), [0, 1, 2], 'the fixture holds every old mode');
  for (const s of FIXTURE_SERIES) {
    const got = found.get(seriesId(seriesKey(s.name, s.labels)));
    assert.ok(got, s.name);
    assert.equal(got.ts.length, FIXTURE_POINTS, s.name);
    for (let i = 0; i < FIXTURE_POINTS; i++) {
      assert.equal(got.ts[i], s.time(i), `${s.name} t[${i}]`);
      assert.ok(Object.is(got.vs[i], s.value(i)), `${s.name} v[${i}]: ${got.vs[i]} != ${s.value(i)}`);
    }
  }
});

test('a store holding old-format blocks answers queries over them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-tsdb-old-'));
  try {
    cpSync(FIXTURE, dir, { recursive: true });
    const db = new TimeSeriesStore({ dir, clock: new ManualClock(FIXTURE_T0 + 4 * HOUR_MS) });
    try {
      const start = FIXTURE_T0;
      const end = FIXTURE_T0 + 2 * HOUR_MS;
      const counter = FIXTURE_SERIES[0]!;
      const [r] = db.query({ name: counter.name, start, end, step: 10_000, over: 'max' });
      assert.deepEqual(
        r?.points,
        Array.from({ length: FIXTURE_POINTS }, (_, i) => [counter.time(i), counter.value(i)]),
      );
      const cpu = FIXTURE_SERIES[2]!;
      const [c] = db.query({ name: cpu.name, start, end, step: HOUR_MS, over: 'sum' });
      let sum = 0;
      for (let i = 0; i < 360; i++) sum += cpu.value(i);
      assert.ok(Math.abs(c!.points[0]![1] - sum) < 1e-9, `${c!.points[0]![1]} vs ${sum}`);
    } finally {
      db.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('integer chunks are sealed packed (mode 3): a noisy counter costs about the log2 of its spread', () => {
  const n = 720;
  const e = new GorillaEncoder();
  let c = 0;
  for (let i = 0; i < n; i++) {
    // increments of 1000..1255: 8 bits of noise per point
    c += 1000 + ((i * 149) % 256);
    e.append(FIXTURE_T0 + i * 10_000, c);
  }
  const sealed = sealChunk(e.bytes(), n);
  assert.equal(sealed[0], 3);
  // 8 bits per value, regular timestamps in a few bytes, headers
  assert.ok(sealed.length < n + 60, `${sealed.length} bytes`);
  const ts = new Float64Array(n);
  const vs = new Float64Array(n);
  assert.equal(decodeSealed(sealed, n, ts, vs), true);
  assert.equal(vs[n - 1], c);
  assert.equal(ts[n - 1], FIXTURE_T0 + (n - 1) * 10_000);
  // A float series stays XOR (mode 0).
  const f = new GorillaEncoder();
  for (let i = 0; i < n; i++) f.append(FIXTURE_T0 + i * 10_000, Math.sin(i) * 3.3);
  assert.equal(sealChunk(f.bytes(), n)[0], 0);
});

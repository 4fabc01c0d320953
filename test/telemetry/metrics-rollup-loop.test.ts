/**
 * The server's time-series store maintains itself: with the server's clock moved on (an injected
 * clock), its loop cuts a finished 2 h window into a block and, after 14 days, rolls the day up
 * into 5-minute buckets, and queries through the API answer the same min/max/avg throughout.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ManualClock } from '../../src/lib/index.ts';
import type { MetricsQuery } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

const DAY = 86_400_000;
const D = Math.floor(Date.now() / DAY) * DAY - 30 * DAY; // a UTC day start, a month back
const N = 60; // 10 minutes at 10 s

async function filesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => !f.startsWith('.'));
  } catch {
    return [];
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('the server rolls its time series up by itself', () => {
  let dir = '';
  let t: TestServer;
  const clock = new ManualClock(D + 3_600_000);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-metrics-loop-'));
    t = await startTestServer('metrics-loop', {
      clock,
      telemetryDir: join(dir, 'tsdb'),
      telemetry: { flushIntervalMs: 50, maintainIntervalMs: 100 },
    });
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  const q = (step: string): MetricsQuery => ({
    name: 'queue_depth',
    start: String(D),
    end: String(D + 10 * 60_000),
    step,
    over: 'max',
  });
  /** Per 5-minute bucket: [max, min, avg] of the values 0..59 (30 points each). */
  const expected = [
    [D, 29, 0, 14.5],
    [D + 300_000, 59, 30, 44.5],
  ];
  async function buckets(): Promise<number[][]> {
    const all = t.client.with({ namespace: '*' });
    const max = await all.queryMetrics(q('5m'));
    const min = await all.queryMetrics({ ...q('5m'), over: 'min' });
    const avg = await all.queryMetrics({ ...q('5m'), over: 'avg' });
    return (max.series[0]?.points ?? []).map(([ts, v], i) => [
      ts,
      v,
      min.series[0]?.points[i]?.[1] ?? NaN,
      avg.series[0]?.points[i]?.[1] ?? NaN,
    ]);
  }

  test('head, then a raw block, then 5-minute roll-ups: the same answers', async () => {
    const samples: [number, number][] = Array.from({ length: N }, (_, i) => [D + i * 10_000, i]);
    const r = await t.client.ingestMetrics({
      host: 'h1',
      seq: 1,
      series: [{ name: 'queue_depth', labels: {}, kind: 'gauge', samples }],
    });
    assert.equal(r.accepted, N);
    assert.deepEqual(await buckets(), expected);

    clock.advance(2 * 3_600_000); // the 2 h window ended over 10 minutes ago
    await until('a raw block', async () => (await filesIn(join(dir, 'tsdb', 'raw'))).length === 1);
    assert.deepEqual(await filesIn(join(dir, 'tsdb', 'head')), []);
    assert.deepEqual(await buckets(), expected);

    clock.advance(16 * DAY); // the day is older than the raw tier's 14 days
    await until('a 5-minute block', async () => (await filesIn(join(dir, 'tsdb', '5m'))).length === 1);
    await until('the raw block gone', async () => (await filesIn(join(dir, 'tsdb', 'raw'))).length === 0);
    assert.deepEqual(await buckets(), expected);
    // A re-sent batch (new seq, same points) stores nothing in a rolled-up day.
    const again = await t.client.ingestMetrics({
      host: 'h1',
      seq: 2,
      series: [{ name: 'queue_depth', labels: {}, kind: 'gauge', samples }],
    });
    assert.deepEqual(again, { accepted: 0, seq: 2, duplicate: false, skipped: N });
  });
});

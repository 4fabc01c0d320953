/**
 * The query fast path (decoded-block cache, folding runs of points per step, per-group folds) gives
 * what a naive computation from the stored points gives, on random data: regular and irregular
 * series, NaN points, counter resets, late points in a second block of a cut window, the head, and
 * random ranges, steps, reductions, rates and aggregations. The same store without the cache
 * (queryCacheBytes 0) and with a cache small enough to evict must answer identically.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../lib/index.ts';
import { HOUR_MS, TimeSeriesStore, WINDOW_MS, type Query, type ResultSeries } from './index.ts';

const T0 = Date.UTC(2025, 2, 1);

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Stored {
  labels: Record<string, string>;
  pts: [number, number][];
}

/** The semantics of query.ts, point by point, with nothing shared with the store's code. */
function naive(q: Query, all: readonly Stored[]): ResultSeries[] {
  const first = Math.ceil(q.start / q.step) * q.step;
  const n = Math.max(0, Math.ceil((q.end - first) / q.step));
  const over = q.over ?? 'avg';
  const job = q.matchers?.[0]?.value;
  const perSeries = all
    .filter((s) => job === undefined || s.labels['job'] === job)
    .map((s) => {
      const cnt = new Array<number>(n).fill(0);
      const sum = new Array<number>(n).fill(0);
      const min = new Array<number>(n).fill(Infinity);
      const max = new Array<number>(n).fill(-Infinity);
      let prev = NaN;
      for (const [t, v] of s.pts) {
        if (t < first || t >= first + n * q.step || Number.isNaN(v)) continue;
        const i = Math.floor((t - first) / q.step);
        if (q.rate === true) {
          if (!Number.isNaN(prev)) {
            sum[i] = sum[i]! + (v >= prev ? v - prev : v);
            cnt[i] = cnt[i]! + 1;
          }
          prev = v;
          continue;
        }
        cnt[i] = cnt[i]! + 1;
        sum[i] = sum[i]! + v;
        min[i] = Math.min(min[i]!, v);
        max[i] = Math.max(max[i]!, v);
      }
      const value = (i: number): number => {
        if (cnt[i] === 0) return NaN;
        if (q.rate === true) return sum[i]! / (q.step / 1000);
        return { avg: sum[i]! / cnt[i]!, min: min[i]!, max: max[i]!, sum: sum[i]!, count: cnt[i]! }[over];
      };
      return { labels: s.labels, value };
    });
  const pointsOf = (values: ((i: number) => number)[], combine: (vs: number[]) => number) => {
    const points: [number, number][] = [];
    for (let i = 0; i < n; i++) {
      const vs = values.map((f) => f(i)).filter((v) => !Number.isNaN(v));
      if (vs.length > 0) points.push([first + i * q.step, combine(vs)]);
    }
    return points;
  };
  if (q.agg === undefined) {
    return perSeries.map((s) => ({
      labels: { __name__: 'm', ...s.labels },
      points: pointsOf([s.value], (vs) => vs[0]!),
    }));
  }
  const groups = new Map<string, { labels: Record<string, string>; values: ((i: number) => number)[] }>();
  for (const s of perSeries) {
    const labels = Object.fromEntries((q.by ?? []).map((l) => [l, s.labels[l] ?? '']));
    const key = JSON.stringify(labels);
    const g = groups.get(key) ?? { labels, values: [] };
    g.values.push(s.value);
    groups.set(key, g);
  }
  const total = (vs: number[]): number => vs.reduce((a, b) => a + b, 0);
  const combine = (vs: number[]): number => {
    switch (q.agg) {
      case 'sum':
        return total(vs);
      case 'avg':
        return total(vs) / vs.length;
      case 'min':
        return Math.min(...vs);
      case 'max':
        return Math.max(...vs);
      case 'count':
        return vs.length;
      default: {
        const s = [...vs].sort((a, b) => a - b);
        const x = ((q.percentile ?? 50) / 100) * (s.length - 1);
        const lo = Math.floor(x);
        const hi = Math.min(s.length - 1, lo + 1);
        return s[lo]! + (s[hi]! - s[lo]!) * (x - lo);
      }
    }
  };
  return [...groups.values()]
    .map((g) => ({ labels: g.labels, points: pointsOf(g.values, combine) }))
    .sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
}

function assertClose(got: ResultSeries[], want: ResultSeries[], what: string): void {
  assert.equal(got.length, want.length, `${what}: series count`);
  got.forEach((g, k) => {
    const w = want[k]!;
    assert.deepEqual(g.labels, w.labels, what);
    assert.equal(g.points.length, w.points.length, `${what}: points of ${JSON.stringify(g.labels)}`);
    g.points.forEach(([t, v], i) => {
      const [wt, wv] = w.points[i]!;
      assert.equal(t, wt, what);
      assert.ok(
        Math.abs(v - wv) <= 1e-9 * Math.max(1, Math.abs(wv)),
        `${what}: at ${t} got ${v}, want ${wv}`,
      );
    });
  });
}

test('the query fast path answers as a naive computation on random data', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-tsdb-fast-'));
  try {
    const clock = new ManualClock(T0);
    const stores = [
      new TimeSeriesStore({ dir: join(dir, 'cached'), clock }),
      new TimeSeriesStore({ dir: join(dir, 'uncached'), clock, queryCacheBytes: 0 }),
      new TimeSeriesStore({ dir: join(dir, 'small'), clock, queryCacheBytes: 20_000 }),
    ];
    const rand = rng(11);
    const stored: Stored[] = [];
    const refs: number[][] = [];
    for (let s = 0; s < 9; s++) {
      const labels = { job: `j${s % 3}`, task: `t${s}` };
      stored.push({ labels, pts: [] });
      refs.push(stores.map((db) => db.ref('m', labels)));
    }
    // Per series: regular (every 10 s from its own offset) or irregular; integers, floats, NaN,
    // counter resets. Series 8 lags an hour behind, so its points land in windows already cut.
    const next = stored.map((_, s) => T0 + s * 1_000);
    const value = stored.map(() => 0);
    const end = T0 + 7 * HOUR_MS;
    for (let now = T0; now < end; now += 60_000) {
      for (let s = 0; s < stored.length; s++) {
        const until = s === 8 ? now - HOUR_MS : now;
        while (next[s]! < until) {
          const t = next[s]!;
          const r = rand();
          value[s] = r < 0.02 ? NaN : r < 0.05 ? 0 : s % 2 === 0 ? value[s]! + Math.floor(r * 50) : r * 100;
          if (Number.isNaN(value[s])) value[s] = 0;
          const v = r < 0.02 ? NaN : value[s]!;
          for (let k = 0; k < stores.length; k++) assert.equal(stores[k]!.append(refs[s]![k]!, t, v), true);
          stored[s]!.pts.push([t, v]);
          next[s] = t + (s % 3 === 2 ? 1 + Math.floor(rand() * 30_000) : 10_000);
        }
      }
      clock.advance(60_000);
      if (now % (10 * 60_000) === 0) for (const db of stores) db.maintain();
    }
    assert.ok(stores[0]!.stats().blocks.raw > 3, 'several windows were cut into blocks');
    assert.ok(stores[0]!.stats().headPoints > 0, 'the last window is still in the head');
    const steps = [1_000, 7_000, 10_000, 15_000, 60_000, 300_000, HOUR_MS, WINDOW_MS];
    const overs = ['avg', 'min', 'max', 'sum', 'count'] as const;
    const aggs = [undefined, 'sum', 'avg', 'min', 'max', 'count', 'percentile'] as const;
    for (let k = 0; k < 150; k++) {
      const step = steps[Math.floor(rand() * steps.length)]!;
      const start = T0 - HOUR_MS + Math.floor(rand() * 8 * HOUR_MS);
      const span = Math.max(step, Math.min(step * 10_000, Math.floor(rand() * 8 * HOUR_MS)));
      const agg = aggs[Math.floor(rand() * aggs.length)];
      const q: Query = {
        name: 'm',
        start,
        end: start + span,
        step,
        over: overs[Math.floor(rand() * overs.length)]!,
        rate: rand() < 0.4,
        ...(agg === undefined ? {} : { agg }),
        ...(agg === 'percentile' ? { percentile: Math.floor(rand() * 101) } : {}),
        ...(rand() < 0.5 ? { by: rand() < 0.5 ? ['job'] : ['job', 'task'] } : {}),
        ...(rand() < 0.3 ? { matchers: [{ label: 'job', op: '=' as const, value: 'j1' }] } : {}),
      };
      const what = JSON.stringify(q);
      const fast = stores[0]!.query(q);
      assertClose(fast, naive(q, stored), what);
      assert.deepEqual(stores[1]!.query(q), fast, `${what}: without the cache`);
      assert.deepEqual(stores[2]!.query(q), fast, `${what}: with a cache that evicts`);
      assert.deepEqual(stores[0]!.partial(q), stores[1]!.partial(q), `${what}: partial results`);
    }
    const st = stores[0]!.stats().queryCache;
    assert.ok(st.hits > 0 && st.bytes > 0, 'the cache was used');
    assert.ok(stores[2]!.stats().queryCache.bytes <= 20_000, 'the small cache kept to its budget');
    for (const db of stores) db.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

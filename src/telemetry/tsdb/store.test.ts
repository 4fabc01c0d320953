import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock } from '../../lib/index.ts';
import { HOUR_MS, MINUTE_MS, TimeSeriesStore, WINDOW_MS } from './index.ts';

const T0 = Date.UTC(2025, 0, 1);

function withDir(fn: (dir: string) => void | Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dabba-tsdb-test-'));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

const pointsOf = (r: { points: [number, number][] }[]): [number, number][] => r[0]?.points ?? [];

test(
  'points survive a reopen from the head log, then from a cut block',
  withDir((dir) => {
    const clock = new ManualClock(T0);
    let db = new TimeSeriesStore({ dir, clock });
    const a = db.ref('cpu', { host: 'h1' });
    const vals: number[] = [];
    for (let i = 0; i < 100; i++) {
      vals.push(Math.sin(i) * 100);
      assert.equal(db.append(a, T0 + i * 10_000, vals[i]!), true);
    }
    assert.equal(db.append(a, T0, 1), false, 'a duplicate timestamp is refused');
    db.close();
    const q = { name: 'cpu', start: T0, end: T0 + HOUR_MS, step: 10_000, over: 'max' as const };
    db = new TimeSeriesStore({ dir, clock });
    assert.deepEqual(
      pointsOf(db.query(q)),
      vals.map((v, i) => [T0 + i * 10_000, v]),
    );
    clock.advance(WINDOW_MS + HOUR_MS);
    assert.equal(db.maintain().cut, 1);
    assert.deepEqual(readdirSync(join(dir, 'head')), []);
    assert.equal(readdirSync(join(dir, 'raw')).length, 1);
    db.close();
    db = new TimeSeriesStore({ dir, clock });
    assert.deepEqual(
      pointsOf(db.query(q)),
      vals.map((v, i) => [T0 + i * 10_000, v]),
    );
    // Late points of a window already cut go to a second block of that window.
    assert.equal(db.append(a, T0 + 100 * 10_000, 7), true);
    clock.advance(MINUTE_MS);
    assert.equal(db.maintain().cut, 1);
    assert.equal(readdirSync(join(dir, 'raw')).length, 2);
    assert.deepEqual(pointsOf(db.query(q)).at(-1), [T0 + 100 * 10_000, 7]);
    db.close();
  }),
);

test(
  'a crash loses at most what was not flushed; a torn head log record is cut',
  withDir((dir) => {
    const clock = new ManualClock(T0);
    const db = new TimeSeriesStore({ dir, clock });
    const a = db.ref('req_total', { job: 'web' });
    for (let i = 0; i < 50; i++) db.append(a, T0 + i * 10_000, i);
    db.flush();
    for (let i = 50; i < 60; i++) db.append(a, T0 + i * 10_000, i);
    // Simulate a crash: no close(); the last 10 points never reached the file. A torn write too.
    const [log] = readdirSync(join(dir, 'head'));
    const path = join(dir, 'head', log!);
    const size = statSync(path).size;
    appendFileSync(path, Buffer.from([40, 0, 0, 0, 1, 2, 3, 4, 9, 9]));
    const db2 = new TimeSeriesStore({ dir, clock });
    assert.equal(statSync(path).size, size, 'the torn record is cut off');
    const got = pointsOf(
      db2.query({ name: 'req_total', start: T0, end: T0 + HOUR_MS, step: 10_000, over: 'max' }),
    );
    assert.deepEqual(
      got,
      Array.from({ length: 50 }, (_, i) => [T0 + i * 10_000, i]),
    );
    // Appends continue after the replayed point and survive the next reopen.
    assert.equal(db2.append(a, T0 + 50 * 10_000, 50), true);
    db2.close();
    const db3 = new TimeSeriesStore({ dir, clock });
    assert.equal(
      pointsOf(db3.query({ name: 'req_total', start: T0, end: T0 + HOUR_MS, step: 10_000 })).length,
      51,
    );
    db3.close();
    db.close();
  }),
);

test(
  'a damaged series index tail is cut and bad names are refused with a message',
  withDir((dir) => {
    const db = new TimeSeriesStore({ dir, clock: new ManualClock(T0) });
    db.ref('ok_metric', { a: '1' });
    db.close();
    appendFileSync(join(dir, 'series.jsonl'), '{"id":"00');
    const db2 = new TimeSeriesStore({ dir, clock: new ManualClock(T0) });
    assert.equal(db2.series().length, 1);
    assert.throws(() => db2.ref('9bad', {}), /metric name "9bad" is not valid/);
    assert.throws(() => db2.ref('m', { 'bad-label': 'x' }), /label name "bad-label"/);
    assert.throws(
      () =>
        db2.query({ name: 'm', start: 0, end: 1, step: 1, matchers: [{ label: 'a', op: '=~', value: '(' }] }),
      /not a valid regular expression/,
    );
    assert.throws(() => db2.query({ name: 'm', start: 0, end: 1e9, step: 1 }), /at most 11000 steps/);
    db2.close();
  }),
);

test(
  'matchers, reset-aware rate, and sum/avg/max/min/count/percentile by label',
  withDir((dir) => {
    const clock = new ManualClock(T0);
    const db = new TimeSeriesStore({ dir, clock });
    const jobs = ['web', 'web', 'web', 'db'];
    const refs = jobs.map((job, i) => db.ref('http_requests_total', { job, task: String(i) }));
    // Counter i grows by (i + 1) per 10 s; task 1 restarts (resets to 0) at point 30.
    const count = (i: number, k: number): number => (i === 1 && k >= 30 ? (k - 30) * (i + 1) : k * (i + 1));
    for (let k = 0; k < 60; k++) refs.forEach((r, i) => db.append(r, T0 + k * 10_000, count(i, k)));
    const base = { name: 'http_requests_total', start: T0, end: T0 + 10 * MINUTE_MS, step: MINUTE_MS };
    const web = db.query({ ...base, rate: true, matchers: [{ label: 'job', op: '=', value: 'web' }] });
    assert.equal(web.length, 3);
    // Per task: the increase in each minute / 60 s. The first minute lacks the increase up to its
    // first point (5 of 6 intervals); task 1's reset minute counts the value after the reset.
    const t1 = web.find((s) => s.labels['task'] === '1')!;
    assert.deepEqual(
      t1.points.map(([, v]) => v * 60),
      [10, 12, 12, 12, 12, 0 + 2 * 5, 12, 12, 12, 12],
    );
    const summed = db.query({ ...base, rate: true, agg: 'sum', by: ['job'] });
    assert.deepEqual(
      summed.map((s) => [s.labels, Math.round(s.points[1]![1] * 60 * 1e9) / 1e9]),
      [
        [{ job: 'db' }, 24],
        [{ job: 'web' }, 6 + 12 + 18],
      ],
    );
    const notWeb = db.query({ ...base, matchers: [{ label: 'job', op: '!~', value: 'w.*' }], over: 'max' });
    assert.deepEqual(
      notWeb.map((s) => s.labels['task']),
      ['3'],
    );
    const stats = (agg: 'avg' | 'max' | 'min' | 'count' | 'percentile', percentile?: number): number =>
      db.query({ ...base, over: 'max', agg, ...(percentile === undefined ? {} : { percentile }) })[0]!
        .points[0]![1];
    // Max in the first minute per task: 5, 10, 15, 20.
    assert.equal(stats('avg'), 12.5);
    assert.equal(stats('max'), 20);
    assert.equal(stats('min'), 5);
    assert.equal(stats('count'), 4);
    assert.equal(stats('percentile', 50), 12.5);
    assert.equal(stats('percentile', 100), 20);
    db.close();
  }),
);

test(
  'warmCache decodes the newest raw blocks into the query cache; queries then hit it and answer the same',
  withDir(async (dir) => {
    const clock = new ManualClock(T0);
    let db = new TimeSeriesStore({ dir, clock });
    const refs = [db.ref('req_total', { task: 'a' }), db.ref('req_total', { task: 'b' })];
    for (let i = 0; i < 3 * 720; i++) {
      for (const [k, ref] of refs.entries()) db.append(ref, T0 + i * 10_000, i * (k + 3) + (i % 5));
      if (i % 720 === 719) {
        clock.advance(WINDOW_MS);
        db.maintain();
      }
    }
    clock.advance(WINDOW_MS);
    db.maintain();
    const q = {
      name: 'req_total',
      start: T0,
      end: T0 + 6 * HOUR_MS,
      step: MINUTE_MS,
      rate: true,
      agg: 'sum' as const,
    };
    const cold = db.query(q);
    db.close();
    db = new TimeSeriesStore({ dir, clock });
    // A budget for two of the three blocks' series (8 bytes a point + 64 each).
    assert.equal(await db.warmCache(undefined, 2 * 2 * (720 * 8 + 64)), 2);
    const warmed = db.stats().queryCache;
    assert.equal(warmed.misses, 4);
    assert.deepEqual(db.query(q), cold);
    const after = db.stats().queryCache;
    assert.equal(after.hits, 4, 'the two newest blocks came from the cache');
    assert.equal(after.misses, 6, 'the oldest was decoded by the query');
    db.close();
  }),
);

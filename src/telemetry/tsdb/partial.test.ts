import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../lib/index.ts';
import { assemble, checkPartial, HOUR_MS, mergePartials, TimeSeriesStore, type Query } from './index.ts';

const T0 = Date.UTC(2025, 0, 1);
const STEP = 10_000;

/** Each series: its points' values (a counter or a gauge); `owner[k]` says which store gets point k. */
interface Case {
  series: { counter: boolean; values: number[]; owner: number[] }[];
}

const caseArb: fc.Arbitrary<Case> = fc
  .record({
    series: fc.array(
      fc.record({
        counter: fc.boolean(),
        // Runs of points per store, as failovers make them: a few switches, not every point.
        runs: fc.array(fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 40 })), {
          minLength: 1,
          maxLength: 5,
        }),
        seed: fc.integer({ min: 0, max: 1000 }),
      }),
      { minLength: 1, maxLength: 6 },
    ),
  })
  .map(({ series }) => ({
    series: series.map(({ counter, runs, seed }) => {
      // A counter's rate is exact when each store holds one run of its points (a failover, not a
      // flapping back and forth: partial.ts); a gauge's runs may interleave in any way.
      const owner = counter
        ? runs.slice(0, 3).flatMap(([, n], r) => Array<number>(n).fill(r))
        : runs.flatMap(([store, n]) => Array<number>(n).fill(store));
      let c = seed;
      const values = owner.map((_, k) => {
        // A counter rises and is reset now and then; a gauge wanders.
        c = counter ? (k % 37 === 36 ? k % 7 : c + ((k * 13 + seed) % 11)) : Math.sin(k + seed) * 50;
        return c;
      });
      return { counter, values, owner };
    }),
  }));

function withStores<T>(n: number, fn: (stores: TimeSeriesStore[]) => T): T {
  const dirs = Array.from({ length: n }, () => mkdtempSync(join(tmpdir(), 'dabba-partial-test-')));
  const clock = new ManualClock(T0 + HOUR_MS);
  const stores = dirs.map((dir) => new TimeSeriesStore({ dir, clock }));
  try {
    return fn(stores);
  } finally {
    for (const s of stores) s.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

test('a query merged from three stores holding disjoint points equals the one store holding all', () => {
  const queries: Omit<Query, 'name'>[] = [
    { start: T0, end: T0 + HOUR_MS, step: 60_000, rate: true, agg: 'sum' },
    { start: T0, end: T0 + HOUR_MS, step: 60_000, rate: true },
    { start: T0, end: T0 + HOUR_MS, step: 30_000, over: 'max', agg: 'max', by: ['s'] },
    { start: T0, end: T0 + HOUR_MS, step: 60_000, over: 'avg', agg: 'avg' },
    { start: T0, end: T0 + HOUR_MS, step: 60_000, over: 'min', agg: 'percentile', percentile: 90 },
    { start: T0 + 95_000, end: T0 + 1_000_000, step: 20_000, over: 'count', agg: 'sum' },
  ];
  fc.assert(
    fc.property(caseArb, (c) =>
      withStores(4, ([all, ...parts]) => {
        c.series.forEach((s, j) => {
          const name = s.counter ? 'requests_total' : 'temperature';
          const labels = { s: String(j) };
          const refAll = all!.ref(name, labels);
          const refs = parts.map((p) => p.ref(name, labels));
          s.values.forEach((v, k) => {
            const t = T0 + k * STEP;
            all!.append(refAll, t, v);
            parts[s.owner[k]!]!.append(refs[s.owner[k]!]!, t, v);
          });
        });
        for (const base of queries) {
          for (const name of ['requests_total', 'temperature']) {
            if (base.rate === true && name === 'temperature') continue;
            const q: Query = { name, ...base };
            const merged = assemble(
              q,
              mergePartials(
                q,
                parts.map((p, i) => checkPartial(q, JSON.parse(JSON.stringify(p.partial(q))), `store ${i}`)),
              ),
            );
            const one = all!.query(q);
            const sortByLabels = (r: typeof one): typeof one =>
              [...r].sort((a, b) => JSON.stringify(a.labels).localeCompare(JSON.stringify(b.labels)));
            const round = (r: typeof one): unknown =>
              sortByLabels(r).map((x) => ({
                labels: x.labels,
                points: x.points.map(([t, v]) => [t, Math.round(v * 1e6) / 1e6]),
              }));
            assert.deepEqual(round(merged), round(one), JSON.stringify(q));
          }
        }
      }),
    ),
    { numRuns: 25 },
  );
});

test('a peer answer with other steps, or malformed, is refused with what is wrong', () => {
  const q: Query = { name: 'x', start: T0, end: T0 + HOUR_MS, step: 60_000 };
  assert.throws(
    () => checkPartial(q, { first: T0, step: 30_000, n: 120, rate: false, series: [] }, 'r2'),
    /partial result from r2 is not usable: its steps differ/,
  );
  assert.throws(
    () =>
      checkPartial(
        q,
        {
          first: T0,
          step: 60_000,
          n: 60,
          rate: false,
          series: [{ name: 'x', labels: {}, steps: [[60, 1, 1, 1, 1]] }],
        },
        'r2',
      ),
    /step index out of range/,
  );
  assert.throws(() => checkPartial(q, 'nope', 'r3'), /not an object/);
});

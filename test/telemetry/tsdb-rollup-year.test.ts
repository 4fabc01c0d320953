/**
 * A year and more of points with an injected clock: 3 series (two noisy gauges, one counter that
 * resets every day) at a 60 s interval for 400 days, maintained once a simulated day as the store's
 * loop would. Then queries over each age (hourly roll-ups, 5-minute roll-ups, raw, and a range
 * across the raw/5-minute border) are checked against min/max/avg/increase computed here from the
 * points this test generated, and the old tiers' sizes against what the roll-up predicts.
 * On a tmpfs of its own: the test makes thousands of fsyncs (cuts and roll-ups of 400 days), which
 * on a shared virtual disk take most of its time and say nothing about the roll-ups.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/lib/index.ts';
import {
  DAY_MS,
  FIVE_MIN_MS,
  HOUR_MS,
  MINUTE_MS,
  TimeSeriesStore,
  type Over,
} from '../../src/telemetry/tsdb/index.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

const PERIOD = 30 * DAY_MS;
const T0 = Math.ceil(Date.UTC(2024, 0, 1) / PERIOD) * PERIOD;
const DAYS = 400;
const N = (DAYS * DAY_MS) / MINUTE_MS;
const SERIES = 3;

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** values[s][k] at T0 + k minutes. */
function generate(): Float64Array[] {
  const rnd = mulberry32(42);
  const out = Array.from({ length: SERIES }, () => new Float64Array(N));
  let counter = 0;
  for (let k = 0; k < N; k++) {
    out[0]![k] = 50 + 30 * Math.sin(k / 700) + rnd() * 10;
    out[1]![k] = Math.round(1e6 + rnd() * 5e5) / 100;
    counter = k % 1440 === 0 ? 0 : counter + Math.floor(rnd() * 20 * (1 + Math.sin(k / 3000)));
    out[2]![k] = counter;
  }
  return out;
}

/** Independent reference: per step over [start, end), from the generated points. */
function expected(
  vals: Float64Array,
  start: number,
  end: number,
  step: number,
  over: Over | 'rate',
): (number | undefined)[] {
  const out: (number | undefined)[] = [];
  for (let b = start; b < end; b += step) {
    let min = Infinity;
    let max = -Infinity;
    let sum = 0;
    let n = 0;
    let inc = 0;
    for (let k = (b - T0) / MINUTE_MS; k < (b + step - T0) / MINUTE_MS; k++) {
      const v = vals[k]!;
      min = Math.min(min, v);
      max = Math.max(max, v);
      sum += v;
      n++;
      if (k > 0) inc += v >= vals[k - 1]! ? v - vals[k - 1]! : v;
    }
    const byOver = { avg: sum / n, min, max, sum, count: n, rate: inc / (step / 1000) };
    out.push(n === 0 ? undefined : byOver[over]);
  }
  return out;
}

test('a year of points: each age answers min/max/avg/rate true to the raw points; old tiers are as small as predicted', async (ctx) => {
  const fs = await Tmpfs.mount('512m');
  const dir = fs.dir;
  try {
    const vals = generate();
    const clock = new ManualClock(T0);
    const db = new TimeSeriesStore({ dir, clock });
    const refs = [
      db.ref('gauge_a', { s: '0' }),
      db.ref('gauge_b', { s: '1' }),
      db.ref('counter_total', { s: '2' }),
    ];
    const perDay = DAY_MS / MINUTE_MS;
    const rb = new Uint32Array(perDay * SERIES);
    const tb = new Float64Array(perDay * SERIES);
    const vb = new Float64Array(perDay * SERIES);
    for (let d = 0; d < DAYS; d++) {
      let n = 0;
      for (let k = d * perDay; k < (d + 1) * perDay; k++) {
        for (let s = 0; s < SERIES; s++) {
          rb[n] = refs[s]!;
          tb[n] = T0 + k * MINUTE_MS;
          vb[n++] = vals[s]![k]!;
        }
      }
      assert.equal(db.appendBatch(rb, tb, vb, n), n);
      clock.advance(DAY_MS);
      db.maintain();
      assert.deepEqual(db.maintain(), { cut: 0, written: 0, removed: 0 }, 'a second pass changes nothing');
    }
    const now = clock.now();
    const st = db.stats();
    // Ages: hourly before now - 365 d (whole 30-day periods), 5-minute before now - 14 d (whole
    // days), raw after.
    const hourlyEnd = T0 + Math.floor((now - 365 * DAY_MS - T0) / PERIOD) * PERIOD;
    const fiveEnd = T0 + Math.floor((now - 14 * DAY_MS - T0) / DAY_MS) * DAY_MS;
    assert.equal(hourlyEnd, T0 + PERIOD);
    assert.equal(st.stored['1h'], (SERIES * (hourlyEnd - T0)) / HOUR_MS);
    assert.equal(st.stored['5m'], (SERIES * (fiveEnd - hourlyEnd)) / FIVE_MIN_MS);
    assert.equal(st.stored.raw + st.headPoints, (SERIES * (now - fiveEnd)) / MINUTE_MS);

    const check = (start: number, end: number, step: number): void => {
      for (let s = 0; s < SERIES; s++) {
        const info = db.series()[refs[s]!]!;
        for (const over of ['min', 'max', 'avg', 'count'] as const) {
          const got = db.query({ name: info.name, start, end, step, over })[0]!.points;
          const want = expected(vals[s]!, start, end, step, over);
          assert.equal(got.length, want.length, `${info.name} ${over} steps`);
          got.forEach(([t, v], i) => {
            assert.equal(t, start + i * step);
            const w = want[i]!;
            if (over === 'avg')
              assert.ok(Math.abs(v - w) <= 1e-9 * Math.abs(w), `${info.name} avg at ${t}: ${v} vs ${w}`);
            else assert.equal(v, w, `${info.name} ${over} at ${t}`);
          });
        }
      }
      // The counter's rate from the second step on (the first has no earlier point in range).
      const got = db
        .query({ name: 'counter_total', start, end, step, rate: true })[0]!
        .points.filter(([t]) => t > start);
      const want = expected(vals[2]!, start, end, step, 'rate');
      assert.equal(got.length, want.length - 1);
      for (const [t, v] of got) {
        const w = want[(t - start) / step]!;
        assert.ok(Math.abs(v - w) <= 1e-9 * w, `rate at ${t}: ${v} vs ${w}`);
      }
    };
    check(T0 + 2 * DAY_MS, T0 + 5 * DAY_MS, HOUR_MS); // hourly roll-ups
    check(T0 + 200 * DAY_MS, T0 + 201 * DAY_MS, FIVE_MIN_MS); // 5-minute roll-ups
    check(T0 + 200 * DAY_MS, T0 + 202 * DAY_MS, HOUR_MS); // 5-minute roll-ups merged into hours
    check(fiveEnd - DAY_MS, fiveEnd + DAY_MS, HOUR_MS); // across the 5-minute / raw border
    check(now - DAY_MS, now, MINUTE_MS); // raw
    check(hourlyEnd - 2 * DAY_MS, hourlyEnd + 2 * DAY_MS, DAY_MS); // across hourly / 5-minute

    // Storage predicted by the roll-up: a bucket is one regular timestamp (1 bit) and four XOR
    // values; with count constant (5 or 60 points) that is 1 bit, so at most 1 + 1 + 3 * 77 bits,
    // and an hourly bucket costs about what a 5-minute one does (same columns, same kind of data).
    const perBucket = { '5m': st.bytes['5m'] / st.stored['5m'], '1h': st.bytes['1h'] / st.stored['1h'] };
    const rawPerPoint = st.bytes.raw / st.stored.raw;
    ctx.diagnostic(
      `bytes: raw ${rawPerPoint.toFixed(2)}/point, 5m ${perBucket['5m'].toFixed(2)}/bucket, 1h ${perBucket['1h'].toFixed(2)}/bucket`,
    );
    for (const tier of ['5m', '1h'] as const)
      assert.ok(perBucket[tier] <= (2 + 3 * 77) / 8 + 1, `${tier} ${perBucket[tier]}`);
    assert.ok(perBucket['1h'] / perBucket['5m'] > 0.7 && perBucket['1h'] / perBucket['5m'] < 1.4);
    // A day of old data costs what its buckets predict: 5-minute days 288 buckets, hourly 24.
    const fiveDays = (fiveEnd - hourlyEnd) / DAY_MS;
    assert.ok(Math.abs(st.bytes['5m'] / fiveDays - SERIES * 288 * perBucket['5m']) < 40 + 24 * SERIES);
    db.close();
  } finally {
    await fs.destroy();
  }
});

/**
 * The points of the old-encoder fixture (`old-chunks/`, a store written by the session 8 encoder:
 * sealed chunks of modes 0 xor, 1 delta and 2 dod only). `make-old-chunks.ts` wrote it; the test
 * in `../sealed-chunk.test.ts` reads it with today's code and compares with these points.
 * Deterministic: no randomness, so the points can be recomputed at any time.
 */

export const FIXTURE_T0 = Date.UTC(2025, 5, 1);
export const FIXTURE_POINTS = 720;

export interface FixtureSeries {
  name: string;
  labels: Record<string, string>;
  value: (i: number) => number;
  /** Timestamp of point i (10 s ticks, one series with jitter). */
  time: (i: number) => number;
}

const tick = (i: number): number => FIXTURE_T0 + i * 10_000;
const jitter = (i: number): number => tick(i) + ((i * 37) % 41) - 20;

export const FIXTURE_SERIES: FixtureSeries[] = [
  // A counter: integer increments (delta or dod mode).
  { name: 'requests_total', labels: { task: 'a' }, value: (i) => i * 13 + ((i * i) % 7), time: tick },
  // Memory in pages changing now and then (integers, big values).
  {
    name: 'memory_bytes',
    labels: { task: 'a' },
    value: (i) => 1_000_000 * 4096 + 4096 * ((i * 7) % 11) * (i % 3 === 0 ? 1 : 0),
    time: tick,
  },
  // CPU as a 3-decimal fraction (integers after scaling by 1000).
  { name: 'cpu_usage', labels: { task: 'a' }, value: (i) => ((i * 17) % 1000) / 1000, time: tick },
  // A true float (xor mode), with a NaN staleness marker and -0.
  {
    name: 'temperature',
    labels: { task: 'a' },
    value: (i) => (i === 100 ? NaN : i === 200 ? -0 : Math.sin(i / 10) * 40.5 + 20),
    time: jitter,
  },
  // A constant.
  { name: 'memory_limit_bytes', labels: { task: 'a' }, value: () => 4 * 1024 ** 3, time: tick },
];

/**
 * The cold query of bench/tsdb.ts alone: 1,000 series of the benchmark mix for 24 h at 10 s written
 * into a store (once, kept in `--dir`), then the store reopened and the sum over all series for 24 h
 * at a 1 min step asked, its decoded-block cache empty: every raw block decoded. Prints CPU and wall
 * ms per run (each run a fresh reopen) and the load average; then the same after warmCache() (what a
 * restarted server's store does in the background as its run() starts).
 *
 *   node bench/tsdb-cold.ts [--dir DIR] [--runs 5]
 */
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/lib/index.ts';
import { HOUR_MS, MINUTE_MS, TimeSeriesStore } from '../src/telemetry/tsdb/index.ts';
import { generateSamples } from './tsdb-samples.ts';

const SERIES = 1000;
const INTERVAL = 10_000;
const ROUNDS = (24 * HOUR_MS) / INTERVAL;
const T0 = Date.UTC(2026, 0, 1);
const END = T0 + 24 * HOUR_MS;

function opt(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

const dir = opt('--dir') ?? join(tmpdir(), 'dabba-bench-tsdb-cold');
const runs = Number(opt('--runs') ?? 5);
const samples = generateSamples(SERIES, ROUNDS, T0, INTERVAL, 0);
if (!existsSync(join(dir, 'series.jsonl'))) {
  const clock = new ManualClock(T0);
  const db = new TimeSeriesStore({ dir, clock });
  const refs = new Uint32Array(SERIES);
  for (let s = 0; s < SERIES; s++) refs[s] = db.ref(samples.names[s]!, samples.labels[s]);
  for (let r = 0; r < ROUNDS; r++) {
    const o = r * SERIES;
    db.appendBatch(refs, samples.ts.subarray(o, o + SERIES), samples.vs.subarray(o, o + SERIES), SERIES);
    if (r % 360 === 359) {
      db.flush();
      clock.advance(360 * INTERVAL);
      db.maintain();
    }
  }
  clock.advance(3 * HOUR_MS);
  db.maintain();
  db.close();
}
const names = [...new Set(samples.names)];
const load = (): string => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
console.log(`load average before: ${load()}`);
/** The day's query of every series, timed: CPU ms and wall ms. */
function queryAll(db: TimeSeriesStore): { cpuMs: number; wallMs: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  for (const name of names)
    db.query({ name, start: END - 24 * HOUR_MS, end: END, step: MINUTE_MS, agg: 'sum' });
  const wallMs = performance.now() - t;
  const u = process.cpuUsage(c);
  return { cpuMs: (u.user + u.system) / 1000, wallMs };
}
for (let k = 0; k < runs; k++) {
  const db = new TimeSeriesStore({ dir, clock: new ManualClock(END + 3 * HOUR_MS) });
  const q = queryAll(db);
  console.log(`cold query: ${q.cpuMs.toFixed(1)} CPU ms, ${q.wallMs.toFixed(1)} wall ms`);
  db.close();
}
// What a restarted server sees once its store's run() has warmed the cache (warmCache: the newest
// raw blocks decoded in the background, one per turn of the event loop): the same query after it.
for (let k = 0; k < runs; k++) {
  const db = new TimeSeriesStore({ dir, clock: new ManualClock(END + 3 * HOUR_MS) });
  const w = process.cpuUsage();
  const blocks = await db.warmCache();
  const wu = process.cpuUsage(w);
  const q = queryAll(db);
  console.log(
    `after warmCache (${blocks} blocks, ${((wu.user + wu.system) / 1000).toFixed(1)} CPU ms in the background): ` +
      `${q.cpuMs.toFixed(1)} CPU ms, ${q.wallMs.toFixed(1)} wall ms`,
  );
  db.close();
}
console.log(`load average after: ${load()}`);

/**
 * Time-series store benchmark: `node bench/tsdb.ts [--series 1000] [--hours 24] [--no-prometheus] [--no-backfill]`
 * (about two minutes at the defaults on 2 cores; most of it is Prometheus's backfill).
 *
 * 1. Ingest: a realistic mix (bench/tsdb-samples.ts: counters, gauges, histogram buckets; 10 s
 *    interval) appended in batches of one collection round, flushing (fdatasync) every 100 rounds
 *    and cutting 2 h windows into blocks as the injected clock passes them: points/s overall.
 * 2. Bytes per point on disk once every window is a block: raw blocks over points, overall and per
 *    kind (counter, gauge, histogram), with timestamps on the tick and with ±20 ms jitter.
 * 3. Queries: one series over 24 h (step 1 min), and a sum over every series of a name and over
 *    all 1,000 series (1 h and 24 h, step 1 min); median of 9 runs after one warm-up.
 * 4. Prometheus's live ingest of the same samples (bench/prometheus-ingest.ts: a real server fed
 *    through its remote-write receiver, counted by prometheus_tsdb_head_samples_appended_total).
 * 5. Prometheus's TSDB on the same samples: the samples written as OpenMetrics text and turned into
 *    blocks by `promtool tsdb create-blocks-from openmetrics` (Debian's prometheus package); bytes
 *    per sample of its chunks and of the whole blocks (with index). Its backfill time is printed but
 *    is not an ingest rate (it parses text; 4. is).
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdtempSync,
  readFileSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../src/lib/index.ts';
import { HOUR_MS, MINUTE_MS, TimeSeriesStore, type Query } from '../src/telemetry/tsdb/index.ts';
import { generateSamples, type SampleSet } from './tsdb-samples.ts';
import { table } from './report.ts';
import { prometheusIngest } from './prometheus-ingest.ts';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const SERIES = arg('series', 1000);
const HOURS = arg('hours', 24);
const INTERVAL = 10_000;
const ROUNDS = (HOURS * HOUR_MS) / INTERVAL;
const T0 = Date.UTC(2026, 0, 1);
const fmt = (n: number, d = 0): string =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const work = mkdtempSync(join(tmpdir(), 'dabba-tsdb-bench-'));

function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

function ingest(
  samples: SampleSet,
  dir: string,
): { db: TimeSeriesStore; ms: number; cpu: number; points: number } {
  const clock = new ManualClock(T0);
  const db = new TimeSeriesStore({ dir, clock });
  const n = samples.names.length;
  const refs = new Uint32Array(n);
  for (let s = 0; s < n; s++) refs[s] = db.ref(samples.names[s]!, samples.labels[s]);
  db.flush();
  let points = 0;
  const c = process.cpuUsage();
  const t = performance.now();
  for (let r = 0; r < samples.rounds; r++) {
    const o = r * n;
    points += db.appendBatch(refs, samples.ts.subarray(o, o + n), samples.vs.subarray(o, o + n), n);
    if (r % 100 === 99) db.flush();
    if (r % 360 === 359) {
      clock.advance(360 * INTERVAL);
      db.maintain();
    }
  }
  clock.advance(3 * HOUR_MS);
  db.maintain();
  const ms = performance.now() - t;
  const u = process.cpuUsage(c);
  return { db, ms, cpu: (u.user + u.system) / 1000, points };
}

function uptimeLoad(): string {
  return `load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Wall and CPU (user + system) ms of fn: CPU time is steadier on a shared machine. */
function timed(fn: () => void): { ms: number; cpu: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  fn();
  const ms = performance.now() - t;
  const u = process.cpuUsage(c);
  return { ms, cpu: (u.user + u.system) / 1000 };
}

/** Median wall and CPU ms of 9 runs after one warm-up. */
function medianOf(fn: () => void, runs = 9): { ms: number; cpu: number } {
  fn();
  const r = Array.from({ length: runs }, () => timed(fn));
  return { ms: median(r.map((x) => x.ms)), cpu: median(r.map((x) => x.cpu)) };
}

function timeQuery(db: TimeSeriesStore, q: Query): { ms: number; cpu: number } {
  return medianOf(() => db.query(q));
}

function writeOpenMetrics(samples: SampleSet, path: string): void {
  const fd = openSync(path, 'w');
  const n = samples.names.length;
  const order = [...Array(n).keys()].sort(
    (a, b) => samples.names[a]!.localeCompare(samples.names[b]!) || a - b,
  );
  let family = '';
  let buf: string[] = [];
  const out = (line: string): void => {
    buf.push(line);
    if (buf.length >= 10_000) {
      writeSync(fd, buf.join(''));
      buf = [];
    }
  };
  for (const s of order) {
    const name = samples.names[s]!;
    if (name !== family) {
      family = name;
      out(name.endsWith('_total') ? `# TYPE ${name.slice(0, -6)} counter\n` : `# TYPE ${name} unknown\n`);
    }
    const lbl = Object.entries(samples.labels[s]!)
      .map(([k, v]) => `${k}="${v}"`)
      .join(',');
    for (let r = 0; r < samples.rounds; r++) {
      out(`${name}{${lbl}} ${samples.vs[r * n + s]} ${samples.ts[r * n + s]! / 1000}\n`);
    }
  }
  out('# EOF\n');
  writeSync(fd, buf.join(''));
  closeSync(fd);
}

function prometheus(
  samples: SampleSet,
): { chunks: number; total: number; ms: number; samples: number } | string {
  let version: string;
  try {
    version = execFileSync('promtool', ['--version'], { encoding: 'utf8' }).split('\n')[0]!;
  } catch {
    return 'promtool not found (apt-get install prometheus)';
  }
  const om = join(work, 'samples.om');
  writeOpenMetrics(samples, om);
  const out = join(work, 'prom');
  const t = performance.now();
  execFileSync('promtool', ['tsdb', 'create-blocks-from', 'openmetrics', '-q', om, out], {
    stdio: 'inherit',
  });
  const ms = performance.now() - t;
  rmSync(om);
  let chunks = 0;
  let total = 0;
  let count = 0;
  for (const b of readdirSync(out)) {
    const meta = JSON.parse(execFileSync('cat', [join(out, b, 'meta.json')], { encoding: 'utf8' })) as {
      stats: { numSamples: number };
    };
    count += meta.stats.numSamples;
    chunks += dirBytes(join(out, b, 'chunks'));
    total += dirBytes(join(out, b));
  }
  console.log(`prometheus: ${version}`);
  return { chunks, total, ms, samples: count };
}

try {
  console.log(`tsdb bench: ${SERIES} series x ${HOURS} h at 10 s (${fmt(ROUNDS * SERIES)} points)`);
  const samples = generateSamples(SERIES, ROUNDS, T0, INTERVAL);
  const n = samples.names.length;
  const dir = join(work, 'dabba');
  const { db, ms, cpu, points } = ingest(samples, dir);
  const st = db.stats();
  const rawBytes = st.bytes.raw;
  const onDisk = dirBytes(dir);

  // Per-kind bytes: the same samples of one kind alone in a store.
  const perKind: (string | number)[][] = [];
  for (const kind of ['counter', 'gauge', 'histogram'] as const) {
    const keep = samples.kinds.map((k, i) => (k === kind ? i : -1)).filter((i) => i >= 0);
    const sub = pick(samples, keep);
    const r = ingest(sub, join(work, `kind-${kind}`));
    perKind.push([kind, keep.length, fmt(r.db.stats().bytes.raw / r.points, 2)]);
    r.db.close();
  }
  const jittered = generateSamples(SERIES, ROUNDS, T0, INTERVAL, 20);
  const j = ingest(jittered, join(work, 'jitter'));
  const jitterBpp = j.db.stats().bytes.raw / j.points;
  j.db.close();

  const load = uptimeLoad();
  const prom = process.argv.includes('--no-prometheus')
    ? 'skipped (--no-prometheus)'
    : await prometheusIngest(samples).catch((e: unknown) => `failed: ${(e as Error).message}`);
  const ingestRows = [
    [
      'Dabba, appendBatch',
      fmt(points),
      fmt(ms / 1000, 2),
      fmt(points / (ms / 1000)),
      fmt(cpu / 1000, 2),
      fmt(points / (cpu / 1000)),
    ],
  ];
  if (typeof prom === 'string') console.log(`Prometheus live ingest: ${prom}`);
  else {
    ingestRows.push([
      `Prometheus ${prom.version}, remote write (${prom.requests} requests, 4 connections)`,
      fmt(prom.samples),
      fmt(prom.ms / 1000, 2),
      fmt(prom.samples / (prom.ms / 1000)),
      fmt(prom.cpuSeconds, 2),
      fmt(prom.samples / prom.cpuSeconds),
    ]);
  }
  table(
    `Ingest (Dabba: appendBatch of one 10 s round, fdatasync every 100 rounds, 2 h windows cut as the clock passes; ${load}, then ${uptimeLoad()})`,
    ['store', 'points', 'seconds', 'points/s', 'CPU s', 'points/CPU s'],
    ingestRows,
  );
  table(
    'Bytes per point on disk (raw 2 h blocks)',
    ['samples', 'series', 'bytes/point'],
    [
      ['all (timestamps on the 10 s tick)', n, fmt(rawBytes / points, 3)],
      ...perKind,
      ['all, collection jitter up to ±20 ms', n, fmt(jitterBpp, 3)],
      ['all, whole directory (index, blocks)', n, fmt(onDisk / points, 3)],
    ],
  );

  const end = T0 + HOURS * HOUR_MS;
  const day = Math.min(24, HOURS) * HOUR_MS;
  const q1 = timeQuery(db, {
    name: 'cpu_usage',
    matchers: [
      { label: 'task', op: '=', value: samples.labels[samples.names.indexOf('cpu_usage')]!['task']! },
    ],
    start: end - day,
    end,
    step: MINUTE_MS,
  });
  const names = [...new Set(samples.names)];
  const allSeries = (store: TimeSeriesStore, range: number) => (): void => {
    for (const name of names) store.query({ name, start: end - range, end, step: MINUTE_MS, agg: 'sum' });
  };
  const qRate = timeQuery(db, {
    name: 'http_requests_total',
    start: end - HOUR_MS,
    end,
    step: MINUTE_MS,
    rate: true,
    agg: 'sum',
    by: ['job'],
  });
  const qReq = timeQuery(db, {
    name: 'http_requests_total',
    start: end - day,
    end,
    step: MINUTE_MS,
    rate: true,
    agg: 'sum',
  });
  const sum1h = medianOf(allSeries(db, HOUR_MS), 5);
  const sumDay = medianOf(allSeries(db, day), 5);
  db.close();
  // Cold: a store just opened has decoded nothing (the decoded-block cache fills as queries read).
  const reopened = new TimeSeriesStore({ dir, clock: new ManualClock(end + 3 * HOUR_MS) });
  const cold = timed(allSeries(reopened, day));
  reopened.close();
  const nocache = new TimeSeriesStore({ dir, queryCacheBytes: 0 });
  const uncached = medianOf(allSeries(nocache, day), 3);
  nocache.close();
  const reqs = samples.names.filter((x) => x === 'http_requests_total').length;
  const row = (what: string, read: number, r: { ms: number; cpu: number }): (string | number)[] => [
    what,
    read,
    fmt(r.ms, 2),
    fmt(r.cpu, 2),
  ];
  table(
    `Queries (median; ${uptimeLoad()})`,
    ['query', 'series read', 'ms', 'CPU ms'],
    [
      row(`one series, ${day / HOUR_MS} h, step 1 min`, 1, q1),
      row(`sum(rate(http_requests_total)) by job, 1 h`, reqs, qRate),
      row(`sum(rate(http_requests_total)), ${day / HOUR_MS} h`, reqs, qReq),
      row(`sum over all ${n} series (one query per name), 1 h`, n, sum1h),
      row(`sum over all ${n} series (one query per name), ${day / HOUR_MS} h`, n, sumDay),
      row(`  the same, first query after reopening the store (decodes every block)`, n, cold),
      row(`  the same, decoded-block cache off (queryCacheBytes: 0)`, n, uncached),
    ],
  );
  db.close();

  // (Skipped by a value, not process.exit: the finally below removes the work directory.)
  const skip = process.argv.includes('--no-prometheus') || process.argv.includes('--no-backfill');
  const p = skip ? 'skipped' : prometheus(samples);
  if (typeof p === 'string') console.log(`Prometheus: ${p}`);
  else {
    table(
      'Same samples in Prometheus TSDB blocks (promtool tsdb create-blocks-from openmetrics)',
      ['store', 'samples', 'bytes/sample (chunks)', 'bytes/sample (all)'],
      [
        ['Dabba', fmt(points), fmt(rawBytes / points, 3), fmt(onDisk / points, 3)],
        ['Prometheus', fmt(p.samples), fmt(p.chunks / p.samples, 3), fmt(p.total / p.samples, 3)],
      ],
    );
    console.log(`promtool backfill took ${fmt(p.ms / 1000, 1)} s (parses text; not an ingest rate)`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

function pick(s: SampleSet, keep: number[]): SampleSet {
  const n = s.names.length;
  const m = keep.length;
  const ts = new Float64Array(s.rounds * m);
  const vs = new Float64Array(s.rounds * m);
  for (let r = 0; r < s.rounds; r++) {
    keep.forEach((i, k) => {
      ts[r * m + k] = s.ts[r * n + i]!;
      vs[r * m + k] = s.vs[r * n + i]!;
    });
  }
  return {
    names: keep.map((i) => s.names[i]!),
    labels: keep.map((i) => s.labels[i]!),
    kinds: keep.map((i) => s.kinds[i]!),
    rounds: s.rounds,
    ts,
    vs,
  };
}

/**
 * Store benchmark: `node bench/store-bench.ts` (about half a minute).
 *
 * 1. Put throughput of SqliteStore, sequential and with 64 concurrent writers, next to a raw
 *    node:sqlite insert loop with the same durability (WAL, synchronous=FULL): one insert per
 *    transaction, and inserts batched 64 per transaction. Ratios store / raw.
 * 2. Watch fan-out: 1,000 watchers on one prefix; latency from put() to delivery at each watcher.
 * 3. Watch catch-up from history: events/s read by a watcher starting at revision 1.
 * Throughput figures are the median of REPEATS runs, run interleaved (raw, store, raw, store...).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { SqliteStore } from '../src/store/index.ts';
import { table } from './report.ts';

const VALUE = JSON.stringify({ image: 'busybox', command: ['httpd', '-f'], pad: 'x'.repeat(150) });
const SEQ_WRITES = 3000;
const CONCURRENT_WRITES = 30_000;
const WRITERS = 64;
const WATCHERS = 1000;
const FANOUT_PUTS = 500;
/** Each write-throughput case runs this many times; the median is reported. */
const REPEATS = 3;

const dir = mkdtempSync(join(tmpdir(), 'dabba-store-bench-'));
let n = 0;
const freshPath = (): string => join(dir, `db-${n++}.sqlite`);

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function rawDb(): DatabaseSync {
  const db = new DatabaseSync(freshPath());
  db.exec('PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL');
  db.exec('CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL)');
  return db;
}

function rawInserts(count: number, perTxn: number): number {
  const db = rawDb();
  const ins = db.prepare('INSERT INTO kv (key, value) VALUES (?, ?)');
  const t0 = performance.now();
  for (let i = 0; i < count; i += perTxn) {
    db.exec('BEGIN IMMEDIATE');
    for (let j = i; j < Math.min(count, i + perTxn); j++) ins.run(`bench/${j}`, VALUE);
    db.exec('COMMIT');
  }
  const ms = performance.now() - t0;
  db.close();
  return rate(count, ms);
}

async function storeSequential(count: number): Promise<number> {
  const store = await SqliteStore.open(freshPath());
  const t0 = performance.now();
  for (let i = 0; i < count; i++) await store.put(`bench/${i}`, VALUE);
  const ms = performance.now() - t0;
  await store.close();
  return rate(count, ms);
}

async function storeConcurrent(count: number, writers: number): Promise<number> {
  const store = await SqliteStore.open(freshPath());
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async () => {
      for (let i = next++; i < count; i = next++) await store.put(`bench/${i}`, VALUE);
    }),
  );
  const ms = performance.now() - t0;
  if ((await store.revision()) !== count) throw new Error('lost writes');
  await store.close();
  return rate(count, ms);
}

interface FanOut {
  all: number[];
  last: number[];
  put: number[];
}

async function fanOut(watchers: number, puts: number): Promise<FanOut> {
  const store = await SqliteStore.open(freshPath());
  const ac = new AbortController();
  const sentAt: number[] = [];
  const all: number[] = [];
  const last: number[] = [];
  const put: number[] = [];
  let received = 0;
  let onRound: (() => void) | undefined;
  const loops = Array.from({ length: watchers }, async () => {
    for await (const batch of store.watch('fan/', { signal: ac.signal })) {
      const now = performance.now();
      for (const e of batch) {
        all.push(now - (sentAt[Number(e.kv.value)] ?? now));
        if (++received === watchers) onRound?.();
      }
    }
  });
  for (let i = 0; i < puts; i++) {
    received = 0;
    const round = new Promise<void>((resolve) => (onRound = resolve));
    const t0 = performance.now();
    sentAt[i] = t0;
    await store.put(`fan/${i % 10}`, String(i));
    put.push(performance.now() - t0);
    await round;
    last.push(performance.now() - t0);
  }
  ac.abort();
  await Promise.all(loops);
  await store.close();
  const sort = (a: number[]): number[] => a.sort((x, y) => x - y);
  return { all: sort(all), last: sort(last), put: sort(put) };
}

async function catchUp(events: number): Promise<number> {
  const store = await SqliteStore.open(freshPath());
  for (let i = 0; i < events; i += 500) {
    await Promise.all(Array.from({ length: 500 }, (_, j) => store.put(`c/${(i + j) % 1000}`, VALUE)));
  }
  const ac = new AbortController();
  let got = 0;
  const t0 = performance.now();
  for await (const batch of store.watch('c/', { fromRevision: 1, signal: ac.signal })) {
    got += batch.length;
    if (got >= events) break;
  }
  const ms = performance.now() - t0;
  await store.close();
  return rate(events, ms);
}

try {
  console.log(`Store benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
  console.log(`values of ${VALUE.length} bytes; WAL, synchronous=FULL everywhere`);

  const runs: { rawOne: number; rawBatch: number; seq: number; conc: number }[] = [];
  for (let r = 0; r < REPEATS; r++) {
    runs.push({
      rawOne: rawInserts(SEQ_WRITES, 1),
      seq: await storeSequential(SEQ_WRITES),
      rawBatch: rawInserts(CONCURRENT_WRITES, WRITERS),
      conc: await storeConcurrent(CONCURRENT_WRITES, WRITERS),
    });
  }
  const median = (k: keyof (typeof runs)[number]): number =>
    percentile(
      runs.map((x) => x[k]).sort((a, b) => a - b),
      50,
    );
  const [rawOne, rawBatch, seq, conc] = [median('rawOne'), median('rawBatch'), median('seq'), median('conc')];
  table(
    `1. Writes/s (median of ${REPEATS}; ${SEQ_WRITES} sequential, ${CONCURRENT_WRITES} concurrent)`,
    ['case', 'store put', 'raw node:sqlite', 'store/raw'],
    [
      ['sequential (raw: 1 insert per txn)', seq, rawOne, (seq / rawOne).toFixed(2)],
      [
        `${WRITERS} concurrent writers (raw: ${WRITERS} inserts per txn)`,
        conc,
        rawBatch,
        (conc / rawBatch).toFixed(2),
      ],
      [`${WRITERS} concurrent writers vs raw 1 insert per txn`, conc, rawOne, (conc / rawOne).toFixed(2)],
    ],
  );

  const f = await fanOut(WATCHERS, FANOUT_PUTS);
  const ms = (x: number): string => x.toFixed(2);
  table(
    `2. Watch fan-out: ${WATCHERS} watchers on one prefix, ${FANOUT_PUTS} puts (ms)`,
    ['from put() to', 'p50', 'p99', 'max'],
    [
      [
        'put resolved (commit)',
        ms(percentile(f.put, 50)),
        ms(percentile(f.put, 99)),
        ms(f.put.at(-1) ?? NaN),
      ],
      [
        'delivery at each watcher',
        ms(percentile(f.all, 50)),
        ms(percentile(f.all, 99)),
        ms(f.all.at(-1) ?? NaN),
      ],
      [
        'delivery at the last watcher',
        ms(percentile(f.last, 50)),
        ms(percentile(f.last, 99)),
        ms(f.last.at(-1) ?? NaN),
      ],
    ],
  );

  const cu = await catchUp(50_000);
  table('3. Watch catch-up from history', ['case', 'events/s'], [['50,000 events from revision 1', cu]]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

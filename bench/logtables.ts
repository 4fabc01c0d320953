/**
 * Log tables: ingest rate and group-by time over many rows (goal: a group-by over 10 million rows
 * in under 1 s), beside SQLite (node:sqlite, the engine the embedded store uses) on the same rows
 * as the peer.
 *
 *   node bench/logtables.ts [--rows 10000000] [--batch 5000] [--runs 3] [--no-peer]
 *
 * Rows look like request logs: level (4 values), route (50), status (200/404/500), host (20),
 * latency_ms (a float), bytes (an integer), spread over the last hour. Dabba's side ingests them
 * through LogTables.insert in batches of `--batch` (what `POST /v1/tables/T/rows` and the agent's
 * task-log batches do, minus HTTP): schema discovery, per-row normalization and DuckDB's appender.
 * The peer gets the same rows in a table with a declared schema, by a prepared INSERT in one
 * transaction per batch. Each query runs `--runs` times; the median is printed.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { DatabaseSync } from 'node:sqlite';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { LogTables, type QuerySpec } from '../src/telemetry/logtables/index.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '10000000' },
    batch: { type: 'string', default: '5000' },
    runs: { type: 'string', default: '3' },
    'no-peer': { type: 'boolean', default: false },
  },
});
const ROWS = Number(values.rows);
const BATCH = Number(values.batch);
const RUNS = Number(values.runs);
const LEVELS = ['debug', 'info', 'warn', 'error'];
const ROUTES = Array.from({ length: 50 }, (_, i) => `/api/v1/thing${i}`);
const STATUSES = [200, 200, 200, 200, 200, 200, 200, 404, 404, 500];
const NOW = Date.now();

/** A small deterministic generator (xorshift32), so both sides get the same rows. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

interface Row {
  time: number;
  level: string;
  route: string;
  status: number;
  host: string;
  latency_ms: number;
  bytes: number;
}

function* batches(): Generator<Row[]> {
  const r = rng(42);
  for (let done = 0; done < ROWS;) {
    const n = Math.min(BATCH, ROWS - done);
    const rows: Row[] = new Array<Row>(n);
    for (let i = 0; i < n; i++) {
      rows[i] = {
        time: NOW - 3_600_000 + Math.floor(((done + i) / ROWS) * 3_600_000),
        level: LEVELS[Math.floor(r() * r() * 4)] ?? 'info',
        route: ROUTES[Math.floor(r() * 50)] ?? '/',
        status: STATUSES[Math.floor(r() * 10)] ?? 200,
        host: `host${Math.floor(r() * 20)}`,
        latency_ms: Math.round(-Math.log(1 - r()) * 40 * 100) / 100 + 0.01,
        bytes: Math.floor(r() * 100_000),
      };
    }
    done += n;
    yield rows;
  }
}

const QUERIES: { name: string; spec: QuerySpec; sql: string }[] = [
  {
    name: 'count by level',
    spec: { by: ['level'], agg: 'count' },
    sql: 'SELECT level, count(*) FROM t GROUP BY level ORDER BY 2 DESC',
  },
  {
    name: 'count, avg, max by route (50 groups)',
    spec: { by: ['route'], agg: 'count,avg(latency_ms),max(latency_ms)' },
    sql: 'SELECT route, count(*), avg(latency_ms), max(latency_ms) FROM t GROUP BY route ORDER BY 2 DESC',
  },
  {
    name: 'p99 latency by route where status>=500',
    spec: { where: ['status>=500'], by: ['route'], agg: 'count,p99(latency_ms)' },
    // SQLite has no percentile function: the peer computes the count only (a lower bound of its time).
    sql: 'SELECT route, count(*) FROM t WHERE status >= 500 GROUP BY route ORDER BY 2 DESC',
  },
  {
    name: 'count per minute by host (1,200 groups)',
    spec: { by: ['host'], agg: 'count,sum(bytes)', bucket: '1m', limit: 10_000 },
    sql: 'SELECT time / 60000 AS b, host, count(*), sum(bytes) FROM t GROUP BY b, host ORDER BY b',
  },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

async function timed(f: () => unknown): Promise<number> {
  const t0 = performance.now();
  await f();
  return performance.now() - t0;
}

async function dirBytes(path: string): Promise<number> {
  let n = 0;
  for (const f of ['logtables.duckdb', 'logtables.duckdb.wal', 'peer.sqlite', 'peer.sqlite-wal']) {
    n += await stat(join(path, f)).then(
      (s) => s.size,
      () => 0,
    );
  }
  return n;
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-logtables-'));
try {
  console.log(`log tables: ${ROWS.toLocaleString('en')} rows in batches of ${BATCH}, ${RUNS} runs per query`);
  const duck = await LogTables.open({ dir: join(dir, 'duck') });
  const ingestDuck = await timed(async () => {
    for (const rows of batches()) await duck.insert('requests', rows, { namespace: 'default' });
  });
  const duckBytes = await dirBytes(join(dir, 'duck'));

  let peer: DatabaseSync | undefined;
  let ingestPeer = NaN;
  let peerBytes = NaN;
  if (!values['no-peer']) {
    peer = new DatabaseSync(join(dir, 'peer.sqlite'));
    peer.exec('PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL');
    peer.exec(
      'CREATE TABLE t(time INTEGER, namespace TEXT, level TEXT, route TEXT, status INTEGER, host TEXT, latency_ms REAL, bytes INTEGER)',
    );
    const ins = peer.prepare('INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const db = peer;
    ingestPeer = await timed(() => {
      for (const rows of batches()) {
        db.exec('BEGIN');
        for (const r of rows)
          ins.run(r.time, 'default', r.level, r.route, r.status, r.host, r.latency_ms, r.bytes);
        db.exec('COMMIT');
      }
    });
    peer.exec('PRAGMA wal_checkpoint(TRUNCATE)');
    peerBytes = await dirBytes(dir);
  }
  const rate = (ms: number): string =>
    Number.isNaN(ms) ? '-' : Math.round(ROWS / (ms / 1000)).toLocaleString('en');
  table(
    'ingest',
    ['engine', 'seconds', 'rows/s', 'MB on disk'],
    [
      [
        'dabba log tables (DuckDB)',
        (ingestDuck / 1000).toFixed(1),
        rate(ingestDuck),
        (duckBytes / 1e6).toFixed(0),
      ],
      [
        'sqlite (declared schema)',
        Number.isNaN(ingestPeer) ? '-' : (ingestPeer / 1000).toFixed(1),
        rate(ingestPeer),
        Number.isNaN(peerBytes) ? '-' : (peerBytes / 1e6).toFixed(0),
      ],
    ],
  );

  const rows: (string | number)[][] = [];
  for (const q of QUERIES) {
    const d: number[] = [];
    let groups = 0;
    for (let i = 0; i < RUNS; i++) {
      d.push(
        await timed(async () => {
          groups = (await duck.query('requests', q.spec, { namespace: 'default' })).rows.length;
        }),
      );
    }
    const p: number[] = [];
    if (peer) {
      const stmt = peer.prepare(q.sql);
      for (let i = 0; i < RUNS; i++) p.push(await timed(() => stmt.all()));
    }
    const dm = median(d);
    const pm = p.length === 0 ? NaN : median(p);
    rows.push([
      q.name,
      groups,
      dm.toFixed(0),
      Number.isNaN(pm) ? '-' : pm.toFixed(0),
      Number.isNaN(pm) ? '-' : `${(pm / dm).toFixed(1)}x`,
      dm < 1000 ? 'yes' : 'no',
    ]);
  }
  table(
    `group-by over ${ROWS.toLocaleString('en')} rows (median ms; dabba filters by namespace too)`,
    ['query', 'groups', 'dabba ms', 'sqlite ms', 'sqlite/dabba', 'under 1 s'],
    rows,
  );
  peer?.close();
  await duck.close();
} finally {
  await rm(dir, { recursive: true, force: true });
}

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { LogTables } from './log-tables.ts';
import { retainOnce, usedBytes } from './retention.ts';
import { columnNameOf } from './columns.ts';

let dir = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dabba-logtables-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function columnsOf(infos: Awaited<ReturnType<LogTables['list']>>, table: string): Record<string, string> {
  return Object.fromEntries(
    (infos.find((t) => t.name === table)?.columns ?? []).map((c) => [c.name, c.type]),
  );
}

describe('log tables on DuckDB', () => {
  test('column names: camelCase to snake_case, lower case, odd characters to _', () => {
    assert.equal(columnNameOf('latencyMs'), 'latency_ms');
    assert.equal(columnNameOf('HTTP Status'), 'http_status');
    assert.equal(columnNameOf('2xx'), '_2xx');
    assert.equal(columnNameOf('a"b'), 'a_b');
    assert.equal(columnNameOf('"'), undefined);
  });

  test('columns are discovered as rows bring them; types widen or overflow into _extra', async () => {
    const t = await LogTables.open({ dir: join(dir, 'discover') });
    try {
      await t.insert('reqs', [{ level: 'info', latencyMs: 3 }], { namespace: 'a' });
      assert.deepEqual(columnsOf(await t.list(), 'reqs'), {
        time: 'TIMESTAMP_MS',
        namespace: 'VARCHAR',
        level: 'VARCHAR',
        latency_ms: 'BIGINT',
      });
      await t.insert(
        'reqs',
        [
          { level: 'warn', latencyMs: 2.5, user: { id: 7 }, ok: true },
          { level: 5, latencyMs: 'slow', extra1: null },
        ],
        { namespace: 'a' },
      );
      assert.deepEqual(columnsOf(await t.list(), 'reqs'), {
        time: 'TIMESTAMP_MS',
        namespace: 'VARCHAR',
        level: 'VARCHAR',
        latency_ms: 'DOUBLE',
        user: 'VARCHAR',
        ok: 'BOOLEAN',
        _extra: 'VARCHAR',
      });
      const rows = (await t.query('reqs', {})).rows;
      const byLevel = Object.fromEntries(rows.map((r) => [String(r['level']), r]));
      assert.equal(byLevel['info']?.['latency_ms'], 3);
      assert.equal(byLevel['warn']?.['latency_ms'], 2.5);
      assert.equal(byLevel['warn']?.['user'], '{"id":7}');
      assert.equal(byLevel['5']?.['latency_ms'], null, 'a number became text in a text column');
      assert.equal(byLevel['5']?.['_extra'], '{"latency_ms":"slow"}', 'a string kept out of a number column');
      const avg = await t.query('reqs', { agg: 'avg(latency_ms),count' });
      assert.deepEqual(avg.rows, [{ 'avg(latency_ms)': 2.75, count: 3 }]);
    } finally {
      await t.close();
    }
    // The schema survives a reopen.
    const again = await LogTables.open({ dir: join(dir, 'discover') });
    try {
      assert.equal(columnsOf(await again.list(), 'reqs')['latency_ms'], 'DOUBLE');
      assert.equal((await again.query('reqs', { agg: 'count' })).rows[0]?.['count'], 3);
    } finally {
      await again.close();
    }
  });

  test('group-by, filters, percentiles; a viewer of one namespace sees only its rows', async () => {
    const t = await LogTables.open({ dir: join(dir, 'query') });
    try {
      const rows = Array.from({ length: 100 }, (_, i) => ({
        level: i % 4 === 0 ? 'error' : 'info',
        ms: i + 1,
      }));
      await t.insert('reqs', rows, { namespace: 'a' });
      await t.insert('reqs', [{ level: 'error', ms: 1000 }], { namespace: 'b' });
      const a = await t.query('reqs', { by: ['level'], agg: 'count,max(ms),p50(ms)' }, { namespace: 'a' });
      assert.deepEqual(a.rows, [
        { level: 'info', count: 75, 'max(ms)': 100, 'p50(ms)': 51 },
        { level: 'error', count: 25, 'max(ms)': 97, 'p50(ms)': 49 },
      ]);
      const b = await t.query('reqs', { agg: 'count,sum(ms)' }, { namespace: 'b' });
      assert.deepEqual(b.rows, [{ count: 1, 'sum(ms)': 1000 }]);
      const all = await t.query('reqs', { agg: 'count' });
      assert.equal(all.rows[0]?.['count'], 101);
      const filtered = await t.query(
        'reqs',
        { where: ['level=error', 'ms>=90', 'level~^err'], agg: 'count' },
        { namespace: 'a' },
      );
      assert.equal(filtered.rows[0]?.['count'], 2, 'errors at 93 and 97 ms');
      const notError = await t.query('reqs', { where: ['level!~rr'], agg: 'count' }, { namespace: 'a' });
      assert.equal(notError.rows[0]?.['count'], 75);
      assert.equal((await t.list({ namespace: 'b' }))[0]?.rows, 1);
    } finally {
      await t.close();
    }
  });

  test('injection through values does nothing; a bad regex is a clear refusal', async () => {
    const t = await LogTables.open({ dir: join(dir, 'inject') });
    try {
      await t.insert('reqs', [{ level: 'info' }], { namespace: 'a' });
      for (const w of [`level=x' OR '1'='1`, `level=x"; DROP TABLE reqs; --`, `level~^x' OR '1'='1`]) {
        const r = await t.query('reqs', { where: [w], agg: 'count' }, { namespace: 'a' });
        assert.equal(r.rows[0]?.['count'], 0, w);
      }
      await assert.rejects(
        t.query('reqs', { where: [`level~'); DROP TABLE reqs; --`] }),
        (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_VALIDATION',
      );
      await assert.rejects(
        t.insert('Bad;Name', [{}], { namespace: 'a' }),
        (e: unknown) => e instanceof DabbaError && /not a table name/.test(e.message),
      );
      await assert.rejects(
        t.insert('reqs', [{ ok: 1 }, 'text'], { namespace: 'a' }),
        (e: unknown) => e instanceof DabbaError && /rows\[1\]/.test(e.message),
      );
      assert.equal(
        (await t.query('reqs', { agg: 'count' })).rows[0]?.['count'],
        1,
        'nothing of the refused batch',
      );
    } finally {
      await t.close();
    }
  });

  test('sampling keeps 1 in N rows, each weighing N: counts and sums stay true', async () => {
    let i = 0;
    // A deterministic "random": 0, 0.1, ..., 0.9 in turn: exactly one row in ten is kept at rate 10.
    const t = await LogTables.open({ dir: join(dir, 'sample'), random: () => (i++ % 10) / 10 });
    try {
      await t.setSampleRate('hits', 10);
      const rows = Array.from({ length: 1000 }, () => ({ bytes: 5 }));
      const r = await t.insert('hits', rows, { namespace: 'a' });
      assert.equal(r.written, 100);
      const q = await t.query('hits', { agg: 'count,sum(bytes),avg(bytes)' });
      assert.deepEqual(q.rows, [{ count: 1000, 'sum(bytes)': 5000, 'avg(bytes)': 5 }]);
      assert.equal(q.sampled, true);
      assert.equal((await t.list())[0]?.rows, 100, 'stored rows');
      // Back to every row: old rows keep their weight.
      await t.setSampleRate('hits', 1);
      await t.insert('hits', [{ bytes: 1 }], { namespace: 'a' });
      assert.deepEqual((await t.query('hits', { agg: 'count,sum(bytes)' })).rows, [
        { count: 1001, 'sum(bytes)': 5001 },
      ]);
    } finally {
      await t.close();
    }
  });

  test('retention: rows past the age go; the size limit trims the oldest', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock = { now: () => now };
    const t = await LogTables.open({ dir: join(dir, 'retain'), clock });
    try {
      const day = 86_400_000;
      await t.insert('old', [{ time: now - 10 * day, v: 1 }, { time: now - 2 * day, v: 2 }, { v: 3 }], {
        namespace: 'a',
      });
      const pass = await retainOnce(t, { maxAgeMs: 7 * day, maxBytes: 1024 ** 4, clock });
      assert.equal(pass.deletedByAge, 1);
      assert.deepEqual((await t.query('old', { agg: 'sum(v)' })).rows, [{ 'sum(v)': 5 }]);

      const big = Array.from({ length: 5000 }, (_, k) => ({
        time: now - day + k,
        text: `row ${k} ${'x'.repeat(200)}`,
      }));
      for (let k = 0; k < 20; k++) await t.insert('big', big, { namespace: 'a' });
      const before = await usedBytes(t);
      now += 1;
      const trimmed = await retainOnce(t, { maxAgeMs: 7 * day, maxBytes: Math.floor(before / 2), clock });
      assert.ok(trimmed.deletedBySize > 0, JSON.stringify(trimmed));
      const left = Number((await t.query('big', { agg: 'count' })).rows[0]?.['count']);
      assert.ok(left < 100_000, `${left} rows left`);
      const oldest = await t.query('big', { agg: 'min(time)' });
      assert.ok(
        String(oldest.rows[0]?.['min(time)']) > new Date(now - day).toISOString(),
        'the oldest went first',
      );
    } finally {
      await t.close();
    }
  });

  test('a query racing the insert that adds a column never returns that row without it', async () => {
    // The query's columns are taken when it starts and its rows when it runs: an insert adding a
    // column in between used to give its rows back without it (the events table's exit_code).
    const t = await LogTables.open({ dir: join(dir, 'race') });
    let seen = 0;
    try {
      for (let i = 0; i < 100; i++) {
        const col = `c${i}`;
        const query = t.query('ev', { where: [`kind=b${i}`] });
        const insert = t.insert('ev', [{ kind: `b${i}`, [col]: i }], { namespace: 'x' });
        const [r] = await Promise.all([query.catch(() => undefined), insert]);
        const row = r?.rows[0];
        if (row === undefined) continue;
        seen++;
        assert.equal(row[col], i, `row ${i} came back without its new column ${col}`);
      }
    } finally {
      await t.close();
    }
    // Most iterations see the row (a query that raced the column is run again): the race was met.
    assert.ok(seen > 0, 'no query saw the row inserted beside it');
  });
});

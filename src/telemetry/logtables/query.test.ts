import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import type { LogColumnType } from '../../model/index.ts';
import { buildSql, parseAggs, parseQuery, parseWhere, type SqlContext } from './query.ts';

const columns = new Map<string, LogColumnType>([
  ['time', 'TIMESTAMP_MS'],
  ['namespace', 'VARCHAR'],
  ['_weight', 'BIGINT'],
  ['level', 'VARCHAR'],
  ['latency_ms', 'DOUBLE'],
  ['status', 'BIGINT'],
  ['ok', 'BOOLEAN'],
]);
const ctx: SqlContext = { table: 'reqs', columns, namespace: 'a', weighted: false, now: 1_000_000 };

function refused(f: () => unknown, pattern: RegExp): void {
  assert.throws(
    f,
    (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_VALIDATION' && pattern.test(e.message),
  );
}

describe('log table query grammar', () => {
  test('where terms: every operator, quoted values keep spaces, the longest operator wins', () => {
    assert.deepEqual(parseWhere('reason=OOMKilled'), { column: 'reason', op: '=', value: 'OOMKilled' });
    assert.deepEqual(parseWhere('status!=200'), { column: 'status', op: '!=', value: '200' });
    assert.deepEqual(parseWhere('latency_ms >= 2.5'), { column: 'latency_ms', op: '>=', value: '2.5' });
    assert.deepEqual(parseWhere('a<=1'), { column: 'a', op: '<=', value: '1' });
    assert.deepEqual(parseWhere('msg~^time.*out$'), { column: 'msg', op: '~', value: '^time.*out$' });
    assert.deepEqual(parseWhere('msg!~x'), { column: 'msg', op: '!~', value: 'x' });
    assert.deepEqual(parseWhere('m="  a b "'), { column: 'm', op: '=', value: '  a b ' });
    assert.deepEqual(parseWhere('m=a=b'), { column: 'm', op: '=', value: 'a=b' });
    refused(() => parseWhere('=x'), /expected COLUMN/);
    refused(() => parseWhere('level x'), /expected one of/);
    refused(() => parseWhere('"level"=x'), /expected COLUMN/);
  });

  test('aggregates: count, sum/avg/min/max, percentiles; anything else is refused', () => {
    assert.deepEqual(
      parseAggs('count, p99(latency_ms),p99.9(latency_ms) ,avg(status)').map((a) => [
        a.fn,
        a.column,
        a.q,
        a.label,
      ]),
      [
        ['count', undefined, undefined, 'count'],
        ['quantile', 'latency_ms', 0.99, 'p99(latency_ms)'],
        ['quantile', 'latency_ms', 0.999, 'p99.9(latency_ms)'],
        ['avg', 'status', undefined, 'avg(status)'],
      ],
    );
    refused(() => parseAggs('p0(x)'), /percentile/);
    refused(() => parseAggs('median(x)'), /expected count/);
    refused(() => parseAggs('sum(x); DROP TABLE reqs'), /expected count/);
    refused(() => parseAggs('sum("x")'), /expected count/);
  });

  test('since, bucket and limit are checked', () => {
    assert.equal(parseQuery({ since: '1h' }).sinceMs, 3_600_000);
    assert.equal(parseQuery({ since: '7d' }).sinceMs, 7 * 86_400_000);
    assert.equal(parseQuery({ bucket: '1m' }).bucketMs, 60_000);
    refused(() => parseQuery({ since: '1 hour' }), /since/);
    refused(() => parseQuery({ limit: 0 }), /limit/);
    refused(() => parseQuery({ by: ['a b'] }), /not a column name/);
    assert.equal(parseQuery({}).raw, true);
    assert.deepEqual(
      parseQuery({ by: ['level'] }).aggs.map((a) => a.label),
      ['count'],
    );
  });

  test('SQL: values are parameters, identifiers are known columns, namespaces are enforced', () => {
    const b = buildSql(
      ctx,
      parseQuery({
        where: ['level=error', 'latency_ms>2.5', 'ok=true'],
        by: ['level'],
        agg: 'count,p99(latency_ms)',
      }),
    );
    assert.equal(
      b.sql,
      'SELECT "level", count(*) AS "count", quantile_cont("latency_ms", $p4) AS "p99(latency_ms)" FROM "reqs" WHERE "namespace" = $p0 AND "level" = $p1 AND "latency_ms" > $p2 AND "ok" = $p3 GROUP BY "level" ORDER BY "count" DESC NULLS LAST, "level" ASC NULLS LAST LIMIT $p5',
    );
    assert.deepEqual(b.params, { p0: 'a', p1: 'error', p2: 2.5, p3: true, p4: 0.99, p5: 1000 });
    assert.deepEqual(b.columns, ['level', 'count', 'p99(latency_ms)']);
    // camelCase names find their snake_case columns
    assert.match(buildSql(ctx, parseQuery({ where: ['latencyMs<3'] })).sql, /"latency_ms" < \$p1/);
  });

  test('injection attempts stay values or are refused', () => {
    const attempts = [
      `level=x' OR '1'='1`,
      `level=x"; DROP TABLE reqs; --`,
      `level~.*'); DROP TABLE reqs; --`,
      `level!=$p0`,
    ];
    for (const w of attempts) {
      const b = buildSql(ctx, parseQuery({ where: [w] }));
      assert.doesNotMatch(b.sql, /DROP|'1'/, b.sql);
      assert.ok(Object.values(b.params).includes(parseWhere(w).value), JSON.stringify(b.params));
    }
    // identifiers: only known columns; a quote cannot get in
    refused(() => buildSql(ctx, parseQuery({ by: ['level;drop'] })), /not a column name/);
    refused(() => buildSql(ctx, parseQuery({ where: ['nosuch=1'] })), /has no column "nosuch"/);
    refused(() => buildSql(ctx, parseQuery({ by: ['_weight'] })), /has no column/);
    refused(() => buildSql(ctx, parseQuery({ where: ['status=1 OR 1=1'] })), /holds numbers/);
    refused(() => buildSql(ctx, parseQuery({ agg: 'sum(level)' })), /not numbers/);
    refused(() => parseQuery({ where: ['level) OR (1=1'] }), /expected one of/);
  });

  test('weighted tables: count and sum are corrected by the weight; buckets group by time', () => {
    const b = buildSql(
      { table: 'reqs', columns, weighted: true, now: 1_000_000 },
      parseQuery({ agg: 'count,sum(status),avg(status),max(status)', bucket: '1m', since: '1h' }),
    );
    assert.match(b.sql, /time_bucket\(to_milliseconds\(\$p1\), "time"\) AS "bucket"/);
    assert.match(b.sql, /sum\("_weight"\) AS "count"/);
    assert.match(b.sql, /sum\("status" \* "_weight"\) AS "sum\(status\)"/);
    assert.match(b.sql, /max\("status"\) AS "max\(status\)"/);
    assert.match(b.sql, /"time" >= epoch_ms\(\$p0\)/);
    assert.equal(b.params['p0'], 1_000_000 - 3_600_000);
    assert.deepEqual(b.columns, ['bucket', 'count', 'sum(status)', 'avg(status)', 'max(status)']);
  });
});

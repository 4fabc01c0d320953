/**
 * The web UI's data helpers, without a browser: chart values' format, a histogram quantile from buckets (as Prometheus's
 * histogram_quantile), quantile panels turned into rows, the mesh graph's layout, and log-table
 * results turned into chart lines; and the JavaScript shipped stays under its budget (200 KB gzipped).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { buildUi } from '../../scripts/build-ui.ts';
import type { MeshConfig, MetricsQueryResult, UpstreamPolicy } from '../../src/model/index.ts';
import { chartValue } from '../../web/src/format.ts';
import { bucketQuantile, seriesRows } from '../../web/src/pages/dashboard-data.ts';
import { meshGraph } from '../../web/src/pages/mesh-graph.ts';
import { chartLines, fromSearch, toHash } from '../../web/src/pages/table-query.ts';

describe('web UI data', () => {
  test('chart values: three significant digits, SI prefixes from 10,000, a dash for no value', () => {
    const cases: [number | null | undefined, string][] = [
      [null, '–'],
      [undefined, '–'],
      [0, '0'],
      [-400, '-400'],
      [0.95, '0.95'],
      [0.002, '0.002'],
      [5.5, '5.5'],
      [123.456, '123.5'],
      [9999, '9999'],
      [12_345, '12.3k'],
      [1_769_472, '1.77M'],
      [999_999, '1M'],
      [-2.5e9, '-2.5G'],
    ];
    for (const [v, want] of cases) assert.equal(chartValue(v), want, String(v));
  });

  test('bucketQuantile interpolates inside the bucket the rank falls in', () => {
    // 100 observations: 50 under 0.1, 40 in 0.1..0.5, 10 in 0.5..1.
    const b: [number, number][] = [
      [0.1, 50],
      [0.5, 90],
      [1, 100],
      [Infinity, 100],
    ];
    assert.equal(bucketQuantile(0.5, b), 0.1);
    assert.ok(Math.abs((bucketQuantile(0.7, b) ?? 0) - 0.3) < 1e-9);
    assert.ok(Math.abs((bucketQuantile(0.99, b) ?? 0) - 0.95) < 1e-9);
    assert.equal(
      bucketQuantile(0.99, [
        [0.1, 0],
        [Infinity, 0],
      ]),
      null,
      'no observations',
    );
    assert.equal(
      bucketQuantile(0.99, [
        [0.1, 1],
        [Infinity, 10],
      ]),
      0.1,
      'rank in +Inf: the highest bound',
    );
  });

  test('a quantile panel draws one row per group from its bucket series', () => {
    const start = 600_000;
    const step = 60_000;
    const le = (v: string, counts: number[]) => ({
      labels: { le: v, job: 'web' },
      points: counts.map((c, i): [number, number] => [start + i * step, c]),
    });
    const a: MetricsQueryResult = {
      name: 'x_bucket',
      start,
      end: start + 3 * step,
      step,
      rate: true,
      agg: 'sum',
      by: ['le'],
      series: [
        le('0.1', [50, 0, 10]),
        le('0.5', [90, 0, 10]),
        le('1', [100, 0, 20]),
        le('+Inf', [100, 0, 20]),
      ],
    };
    const rows = seriesRows({ title: 'p99', query: { name: 'x_bucket' }, quantile: 0.99 }, a);
    assert.equal(rows.length, 1);
    assert.equal(rows[0]?.title, 'p99');
    const v = rows[0]?.series.values ?? [];
    assert.ok(Math.abs((v[0] ?? 0) - 0.95) < 1e-9);
    assert.equal(v[1], null, 'no requests in that step');
    assert.ok(Math.abs((v[2] ?? 0) - 0.99) < 1e-9);
  });

  test('the mesh graph puts callers left of what they call, and survives a cycle', () => {
    const up = {} as UpstreamPolicy;
    const svc = (ups: string[]) => ({
      upstreams: Object.fromEntries(ups.map((u) => [u, { ...up, timeoutMs: 1000, retries: { max: 2 } }])),
      inbound: { maxConcurrency: 1, queueTimeoutMs: 0 },
    });
    const config = {
      services: { front: svc(['back']), back: svc(['db', 'front']), db: svc([]) },
    } as unknown as MeshConfig;
    const { nodes, edges } = meshGraph(config);
    assert.equal(edges.length, 3);
    const col = new Map(nodes.map((n) => [n.name, n.column]));
    assert.ok((col.get('db') ?? 0) > (col.get('back') ?? 0));
    assert.ok(nodes.every((n) => Number.isFinite(n.column)));
  });

  test('log-table queries travel in the address; bucketed results become one line per group', () => {
    const s = fromSearch(
      new URLSearchParams('table=events&by=kind&agg=count&since=1h&bucket=1m&where=job%3Dweb'),
    );
    assert.deepEqual(fromSearch(new URLSearchParams(toHash(s).split('?')[1] ?? '')), s);
    const lines = chartLines(s, {
      table: 'events',
      columns: ['kind', 'bucket', 'count'],
      sampled: false,
      rows: [
        { kind: 'a', bucket: '2026-12-06T06:00:00.000Z', count: 3 },
        { kind: 'a', bucket: '2026-12-06T06:01:00.000Z', count: 5 },
        { kind: 'b', bucket: '2026-12-06T06:00:00.000Z', count: 1 },
      ],
    });
    assert.deepEqual(
      lines.map((l) => [l.name, l.points.map((p) => p[1])]),
      [
        ['kind=a', [3, 5]],
        ['kind=b', [1]],
      ],
    );
  });

  test('the JavaScript shipped is under 200 KB gzipped', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-ui-budget-'));
    try {
      const built = await buildUi(dir);
      const gz = gzipSync(await readFile(join(dir, built.js))).length;
      assert.ok(gz > 1024, `a bundle of ${gz} bytes is not the UI`);
      assert.ok(
        gz < 200 * 1024,
        `the UI's JavaScript is ${(gz / 1024).toFixed(1)} KB gzipped (budget 200 KB)`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

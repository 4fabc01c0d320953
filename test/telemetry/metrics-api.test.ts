/**
 * The time-series API on a real server and store: ingest (validation, the host label, idempotency
 * per seq, across a restart on the same data dir) and queries (values, rate over a counter reset,
 * aggregation by label, namespace permissions).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve as resolve_ } from 'node:path';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import type { IngestBatch, IngestSeries, MetricsQuery, MetricsQueryResult } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { TEST_CONFIG_HOME } from '../helpers/auth.ts';

const MIN = 60_000;
/** Whole minutes, 2 h back: well inside the raw tier, before now. */
const T0 = Math.floor(Date.now() / MIN) * MIN - 120 * MIN;

function counter(labels: Record<string, string>, values: number[], name = 'requests_total'): IngestSeries {
  return { name, labels, kind: 'counter', samples: values.map((v, i) => [T0 + i * 10_000, v]) };
}

async function refusal(p: Promise<unknown>): Promise<DabbaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DabbaError) return e;
    throw e;
  }
  assert.fail('expected the request to be refused');
}

describe('metrics API', () => {
  let dir = '';
  let t: TestServer;
  let host: DabbaClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-metrics-api-'));
    t = await startTestServer('metrics-api', { telemetryDir: join(dir, 'tsdb') });
    await t.client.createNamespace('a');
    await t.client.createNamespace('b');
    const agent = (await t.client.createToken({ name: 'j', role: 'agent' })).token;
    const joined = await new DabbaClient({ addr: t.server.url, token: agent }).join('h1');
    host = new DabbaClient({ addr: t.server.url, token: joined.credential });
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a host ships a batch; the host label is its own whatever it sends; a re-sent seq stores nothing', async () => {
    const batch: IngestBatch = {
      host: 'h1',
      seq: 1,
      series: [
        counter({ namespace: 'a', job: 'web', task: 'web-1', host: 'someone-else' }, [1, 5, 9, 14]),
        counter({ namespace: 'a', job: 'web', task: 'web-2' }, [100, 110, 3, 13]), // reset after 110
        counter({ namespace: 'b', job: 'db', task: 'db-1' }, [7, 8, 9, 10]),
        {
          name: 'host_load1',
          labels: {},
          kind: 'gauge',
          samples: [
            [T0, 0.5],
            [T0 + 10_000, 1.5],
          ],
        },
      ],
    };
    assert.deepEqual(await host.ingestMetrics(batch), { accepted: 14, seq: 1, duplicate: false, skipped: 0 });
    assert.deepEqual(await host.ingestMetrics(batch), { accepted: 0, seq: 1, duplicate: true, skipped: 0 });
    // Another host's batch, from this host: refused.
    const other = await refusal(host.ingestMetrics({ ...batch, host: 'h2', seq: 5 }));
    assert.equal(other.code, 'DABBA_E_FORBIDDEN');
    const all = t.client.with({ namespace: '*' });
    const r = await all.queryMetrics({
      name: 'requests_total',
      where: ['task=web-1'],
      start: String(T0),
      end: String(T0 + 40_000),
      step: '10s',
    });
    assert.equal(r.series.length, 1);
    assert.equal(r.series[0]?.labels['host'], 'h1');
    assert.deepEqual(
      r.series[0]?.points,
      [1, 5, 9, 14].map((v, i) => [T0 + i * 10_000, v]),
    );
  });

  test('a new seq with points already stored (a re-send after a lost seq record) stores no duplicate', async () => {
    const again: IngestBatch = {
      host: 'h1',
      seq: 2,
      series: [counter({ namespace: 'a', job: 'web', task: 'web-1' }, [1, 5, 9, 14, 20])],
    };
    const res = await host.ingestMetrics(again);
    assert.deepEqual(res, { accepted: 1, seq: 2, duplicate: false, skipped: 4 });
  });

  test('rate handles a counter reset; by sums per label; p-aggregation', async () => {
    const all = t.client.with({ namespace: '*' });
    // Two 20 s steps (T0 is a whole minute, so steps align with it); the increase is the rate x 20 s.
    const range = { start: String(T0), end: String(T0 + 40_000 - 1), step: '20s' };
    const increase = (points: [number, number][]): number =>
      Math.round(points.reduce((a, p) => a + p[1] * 20, 0));
    const perTask = await all.queryMetrics({
      name: 'requests_total',
      where: ['job=web'],
      rate: true,
      ...range,
      by: ['task'],
    });
    // web-1 over its first 4 points: 4+4+5 = 13 in 40 s; web-2: 10 + 3 (reset: the new value) + 10 = 23.
    assert.deepEqual(
      perTask.series.map((s) => [s.labels['task'], increase(s.points)]),
      [
        ['web-1', 13],
        ['web-2', 23],
      ],
    );
    const byJob = await all.queryMetrics({ name: 'requests_total', rate: true, ...range, by: ['job'] });
    assert.deepEqual(
      byJob.series.map((s) => [s.labels['job'], increase(s.points)]),
      [
        ['db', 3],
        ['web', 36],
      ],
    );
    const max = await all.queryMetrics({ name: 'requests_total', ...range, over: 'max', agg: 'max' });
    assert.deepEqual(max.series[0]?.points, [
      [T0, 110],
      [T0 + 20_000, 14], // web-2 was reset: 3, 13; web-1 9, 14; db 9, 10
    ]);
    const p50 = await all.queryMetrics({ name: 'requests_total', ...range, over: 'max', agg: 'p50' });
    // Per series max in the first step: 5, 110, 8 -> the median is 8.
    assert.deepEqual(p50.series[0]?.points[0], [T0, 8]);
  });

  test('dabba metrics: a table by default, the API answer with --json', async () => {
    const run = (...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve, reject) => {
        const child = spawn(
          resolve_('bin/dabba'),
          ['metrics', ...args, '--addr', t.server.url, '--token', t.adminToken],
          {
            env: { ...process.env, XDG_CONFIG_HOME: TEST_CONFIG_HOME },
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        );
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.once('error', reject);
        child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      });
    const table = await run(
      'requests_total',
      '--all-namespaces',
      '--where',
      'job=web',
      '--by',
      'task',
      '--since',
      '3h',
      '--step',
      '1m',
    );
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^requests_total sum by task, step 60s/);
    assert.match(lines[1] ?? '', /^TIME\s+task=web-1\s+task=web-2$/);
    // One minute holds all the points: per task, the average of its values in it.
    assert.equal(lines.length, 3, table.stdout);
    assert.match(lines[2] ?? '', /\s9\.800\s+56\.500$/);
    const json = await run('requests_total', '-n', 'b', '--since', '3h', '--json');
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as MetricsQueryResult;
    assert.deepEqual(
      parsed.series.map((x) => x.labels['task']),
      ['db-1'],
    );
    const bad = await run('requests_total', '--agg', 'median');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /agg/);
  });

  test("namespaces: a viewer of a sees a's series only; host-level series need every namespace", async () => {
    const viewerA = (await t.client.createToken({ name: 'va', role: 'viewer', namespaces: ['a'] })).token;
    const a = new DabbaClient({ addr: t.server.url, token: viewerA, namespace: 'a' });
    const range = { start: String(T0), end: String(T0 + 60_000), step: '1m' };
    const seen = await a.queryMetrics({ name: 'requests_total', ...range });
    assert.deepEqual(seen.series.map((s) => s.labels['task']).sort(), ['web-1', 'web-2']);
    assert.equal((await a.queryMetrics({ name: 'host_load1', ...range })).series.length, 0);
    assert.equal(
      (await a.queryMetrics({ name: 'requests_total', where: ['namespace=b'], ...range })).series.length,
      0,
    );
    assert.equal(
      (await refusal(a.with({ namespace: 'b' }).queryMetrics({ name: 'requests_total', ...range }))).code,
      'DABBA_E_FORBIDDEN',
    );
    assert.equal(
      (await refusal(a.with({ namespace: '*' }).queryMetrics({ name: 'host_load1', ...range }))).code,
      'DABBA_E_FORBIDDEN',
    );
    const everything = await t.client.with({ namespace: '*' }).queryMetrics({ name: 'host_load1', ...range });
    assert.deepEqual(everything.series[0]?.points, [[T0, 1]]);
  });

  test('bad batches and queries get 400s that say what and where', async () => {
    const cases: [unknown, string][] = [
      [{ host: 'h1', seq: 3 }, 'series'],
      [{ host: 'h1', seq: -1, series: [] }, 'seq'],
      [
        { host: 'h1', seq: 3, series: [{ name: '9bad', labels: {}, kind: 'gauge', samples: [] }] },
        'series[0].name',
      ],
      [
        { host: 'h1', seq: 3, series: [{ name: 'ok', labels: { __x: '1' }, kind: 'gauge', samples: [] }] },
        'series[0].labels.__x',
      ],
      [
        { host: 'h1', seq: 3, series: [{ name: 'ok', labels: {}, kind: 'summary', samples: [] }] },
        'series[0].kind',
      ],
      [
        { host: 'h1', seq: 3, series: [{ name: 'ok', labels: {}, kind: 'gauge', samples: [[1.5, 1]] }] },
        'series[0].samples[0][0]',
      ],
      [
        { host: 'h1', seq: 3, series: [{ name: 'ok', labels: {}, kind: 'gauge', samples: [[1, 'x']] }] },
        'series[0].samples[0][1]',
      ],
      [
        {
          host: 'h1',
          seq: 3,
          series: [
            {
              name: 'ok',
              labels: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`l${i}`, 'v'])),
              kind: 'gauge',
              samples: [],
            },
          ],
        },
        'series[0].labels',
      ],
    ];
    for (const [body, path] of cases) {
      const e = await refusal(t.client.ingestMetrics(body as IngestBatch));
      assert.equal(e.code, 'DABBA_E_VALIDATION', JSON.stringify(body));
      assert.equal((e.details as { issues: { path: string }[] }).issues[0]?.path, path);
    }
    // Nothing of a refused batch was stored, and seq 3 is still free.
    assert.equal(
      (await t.client.with({ namespace: '*' }).queryMetrics({ name: 'ok', since: '1d' })).series.length,
      0,
    );
    const long = await refusal(
      t.client.ingestMetrics({
        host: 'h1',
        seq: 3,
        series: [
          {
            name: 'long',
            labels: {},
            kind: 'gauge',
            samples: Array.from({ length: 10_001 }, (_, i) => [T0 + i, i]),
          },
        ],
      }),
    );
    assert.equal((long.details as { issues: { path: string }[] }).issues[0]?.path, 'series[0].samples');
    const huge = await fetch(`${t.server.url}/v1/metrics/ingest`, {
      method: 'POST',
      headers: { authorization: `Bearer ${t.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ host: 'h1', seq: 3, series: [], pad: 'x'.repeat(9 * 1024 * 1024) }),
    });
    assert.equal(huge.status, 413);
    assert.equal(((await huge.json()) as { code: string }).code, 'DABBA_E_BODY_TOO_LARGE');
    const queries: [MetricsQuery, string][] = [
      [{ name: '' }, 'name'],
      [{ name: 'x', where: ['nolabel'] }, 'where'],
      [{ name: 'x', since: 'soon' }, 'since'],
      [{ name: 'x', agg: 'median' as 'sum' }, 'agg'],
      [{ name: 'x', since: '30d', step: '1s' }, 'step'],
    ];
    for (const [q, param] of queries) {
      const e = await refusal(t.client.queryMetrics(q));
      assert.equal(e.code, 'DABBA_E_VALIDATION', JSON.stringify(q));
      assert.equal((e.details as { issues: { path: string }[] }).issues[0]?.path, param);
    }
  });

  test('a restart on the same data dir keeps the points and the applied seqs', async () => {
    await t.close();
    t = await startTestServer('metrics-api', { telemetryDir: join(dir, 'tsdb') });
    // A new store: the host joins it again (the time series are what carried over).
    const agent = (await t.client.createToken({ name: 'j', role: 'agent' })).token;
    host = new DabbaClient({
      addr: t.server.url,
      token: (await new DabbaClient({ addr: t.server.url, token: agent }).join('h1')).credential,
    });
    const batch: IngestBatch = {
      host: 'h1',
      seq: 2,
      series: [counter({ namespace: 'a', job: 'web', task: 'web-1' }, [1, 5, 9, 14, 20])],
    };
    assert.deepEqual(await host.ingestMetrics(batch), { accepted: 0, seq: 2, duplicate: true, skipped: 0 });
    const r = await t.client.with({ namespace: 'a' }).queryMetrics({
      name: 'requests_total',
      where: ['task=web-1'],
      start: String(T0),
      end: String(T0 + 50_000),
      step: '10s',
    });
    assert.deepEqual(
      r.series[0]?.points,
      [1, 5, 9, 14, 20].map((v, i) => [T0 + i * 10_000, v]),
    );
    // A torn last line of the seq log (a crash mid-record) is cut; the record before it stands.
    await t.close();
    const log = join(dir, 'tsdb', 'ingest-seq.jsonl');
    await writeFile(log, (await readFile(log, 'utf8')) + '{"host":"h1","se');
    t = await startTestServer('metrics-api', { telemetryDir: join(dir, 'tsdb') });
    assert.deepEqual(await t.client.ingestMetrics({ ...batch, seq: 2 }), {
      accepted: 0,
      seq: 2,
      duplicate: true,
      skipped: 0,
    });
    assert.deepEqual(await t.client.ingestMetrics({ ...batch, seq: 3, spool: 'new-spool' }), {
      accepted: 0,
      seq: 3,
      duplicate: false,
      skipped: 5,
    });
  });
});

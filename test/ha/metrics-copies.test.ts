/**
 * Replication of time-series points between replicas: three real `dabba server` processes on a real
 * three-member etcd cluster. Points shipped to one replica (A) are copied to its successor in the
 * ring (B); with A killed (SIGKILL) a query asked of the third replica (C) gives exactly what it gave
 * before (a counter's increase across a reset, a gauge's min, max, sum and count), nothing missing,
 * and says the points came from A's copies. A batch sent again is copied once. With A and B both
 * down, the answer names A as missing (the design's stated limit: its only copy was on B). The
 * servers serve HTTPS (`--tls`), so copies and fan-out travel over TLS verified against the
 * cluster CA.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { tlsDispatcher, withDispatcher } from '../../src/client/tls.ts';
import type { IngestBatch, MetricsQueryResult } from '../../src/model/index.ts';
import { etcdSkip, startEtcdCluster } from '../helpers/etcd-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';
import { waitFor } from './helpers.ts';
import { ServerProcs, type ServerProc } from './server-procs.ts';

const STEP = 10_000;
const HOUR = 3_600_000;
const POINTS = 60;

/** The counter: +3 a step, reset at k = 40 to 5, then +2 a step. Its increase: 39*3 + 5 + 19*2. */
const counter = (k: number): number => (k < 40 ? 100 + 3 * k : 5 + 2 * (k - 40));
const INCREASE = 39 * 3 + 5 + 19 * 2;
const gauge = (k: number): number => ((k * 7) % 13) - 3.5;

function batchAt(k: number, t0: number): IngestBatch {
  return {
    host: 'h1',
    seq: k + 1,
    spool: 'metrics-copies-test',
    series: [
      {
        name: 'copy_requests_total',
        labels: { job: 'demo', task: 'demo-a', namespace: 'default' },
        kind: 'counter',
        samples: [[t0 + k * STEP, counter(k)]],
      },
      {
        name: 'copy_temperature',
        labels: { job: 'demo', task: 'demo-a', namespace: 'default' },
        kind: 'gauge',
        samples: [[t0 + k * STEP, gauge(k)]],
      },
    ],
  };
}

async function metricsText(url: string, ca: string): Promise<string> {
  const res = await fetch(
    `${url}/metrics`,
    withDispatcher({ headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }, tlsDispatcher({ ca })),
  );
  assert.equal(res.status, 200);
  return res.text();
}

function sample(text: string, line: string): number {
  const hit = text.split('\n').find((l) => l.startsWith(`${line} `));
  return hit === undefined ? 0 : Number(hit.slice(line.length + 1));
}

const allPoints = (r: MetricsQueryResult): [number, number][] => r.series.flatMap((s) => s.points);

test(
  'metrics copies: with the receiving replica killed, another answers the same values from its copies',
  { skip: etcdSkip(), timeout: 180_000 },
  async (t) => {
    const cluster = await startEtcdCluster({ members: 3 });
    t.after(() => cluster.stop());
    const ns = `/ha-${randomUUID().slice(0, 8)}`;
    const storeUrl = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${ns}`;
    const procs = new ServerProcs();
    t.after(() => procs.stopAll());
    const started: ServerProc[] = [];
    // HTTPS on loopback too (--tls): the copies and the fan-out go between replicas over TLS,
    // each verifying its peer against the cluster CA.
    for (let i = 0; i < 3; i++) started.push(await procs.start(storeUrl, {}, ['--tls']));
    for (const s of started) assert.match(s.url, /^https:\/\//);
    const ca = readFileSync(join(started[0]!.dir, 'ca.crt'), 'utf8');
    const client = (s: ServerProc): DabbaClient =>
      new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: s.url, timeoutMs: 20_000, ca });
    const ids = await waitFor(
      'every replica sees the 3',
      async () => {
        const views = await Promise.all(started.map((s) => client(s).servers()));
        if (!views.every((v) => v.replicas.length === 3)) return undefined;
        return views.map((v) => v.replicas.find((r) => r.self)!.id);
      },
      30_000,
    );
    // The ring is the replicas in id order: A's successor is the next id (B), then C.
    const order = [0, 1, 2].sort((x, y) => (ids[x]! < ids[y]! ? -1 : 1));
    const [A, B, C] = order.map((i) => started[i]!) as [ServerProc, ServerProc, ServerProc];
    const idA = ids[order[0]!]!;

    const now = Math.floor(Date.now() / STEP) * STEP;
    const t0 = now - (POINTS - 1) * STEP;
    for (let k = 0; k < POINTS; k++) {
      const r = await client(A).ingestMetrics(batchAt(k, t0));
      assert.equal(r.duplicate, false);
    }
    // A batch sent again (an agent whose answer was lost): a duplicate on A, and on B's copies.
    const again = await client(A).ingestMetrics(batchAt(30, t0));
    assert.equal(again.duplicate, true);
    const textA = await metricsText(A.url, ca);
    assert.equal(sample(textA, 'dabba_metrics_copy_forwards_total{outcome="copied"}'), POINTS, textA);
    assert.equal(sample(textA, 'dabba_metrics_copy_forwards_total{outcome="duplicate"}'), 1);
    assert.equal(sample(textA, 'dabba_metrics_copy_forwards_total{outcome="failed"}'), 0);
    const textB = await metricsText(B.url, ca);
    assert.equal(sample(textB, 'dabba_metrics_copy_batches_total{outcome="applied"}'), POINTS, textB);
    assert.equal(sample(textB, 'dabba_metrics_copy_batches_total{outcome="duplicate"}'), 1);
    // B keeps them apart from its own store, under A's store id; C keeps no copies of A.
    const copiesB = await readdir(join(B.dir, 'tsdb-copies'));
    assert.equal(copiesB.length, 1, `B's copy stores: ${copiesB.join(', ')}`);
    assert.deepEqual(await readdir(join(C.dir, 'tsdb-copies')), []);

    const start = t0 - (t0 % HOUR);
    const range = { start: String(start), end: String(start + 2 * HOUR), step: '1h' };
    const ask = async (s: ServerProc): Promise<Record<string, MetricsQueryResult>> => {
      const c = client(s);
      return {
        rate: await c.queryMetrics({ name: 'copy_requests_total', rate: true, agg: 'sum', ...range }),
        min: await c.queryMetrics({ name: 'copy_temperature', over: 'min', agg: 'min', ...range }),
        max: await c.queryMetrics({ name: 'copy_temperature', over: 'max', agg: 'max', ...range }),
        sum: await c.queryMetrics({ name: 'copy_temperature', over: 'sum', agg: 'sum', ...range }),
        count: await c.queryMetrics({ name: 'copy_temperature', over: 'count', agg: 'sum', ...range }),
      };
    };
    const check = (r: Record<string, MetricsQueryResult>, what: string): void => {
      const total = (q: MetricsQueryResult, scale = 1): number =>
        allPoints(q).reduce((a, [, v]) => a + v * scale, 0);
      assert.equal(Math.round(total(r['rate']!, HOUR / 1000) * 1e6) / 1e6, INCREASE, `${what}: increase`);
      const g = Array.from({ length: POINTS }, (_, k) => gauge(k));
      assert.equal(Math.min(...allPoints(r['min']!).map(([, v]) => v)), Math.min(...g), `${what}: min`);
      assert.equal(Math.max(...allPoints(r['max']!).map(([, v]) => v)), Math.max(...g), `${what}: max`);
      assert.equal(
        total(r['sum']!),
        g.reduce((a, v) => a + v, 0),
        `${what}: sum`,
      );
      assert.equal(total(r['count']!), POINTS, `${what}: count (the re-sent batch counted once)`);
    };
    const before = await ask(C);
    check(before, 'before the kill');
    for (const r of Object.values(before)) {
      assert.equal(r.missing, undefined);
      assert.equal(r.fromCopies, undefined, 'A answered itself');
    }

    await A.kill9();
    for (const [who, s] of [
      ['C (copies on B)', C],
      ['B (its own copies)', B],
    ] as const) {
      const after = await ask(s);
      check(after, `A killed, asked of ${who}`);
      for (const [k, r] of Object.entries(after)) {
        assert.deepEqual(r.series, before[k]!.series, `${who}: ${k} identical to before the kill`);
        assert.equal(r.missing, undefined, `${who}: nothing missing: ${JSON.stringify(r.missing)}`);
        assert.equal(r.fromCopies?.length, 1, JSON.stringify(r));
        assert.ok(r.fromCopies[0]!.startsWith(`${idA}: `), r.fromCopies[0]);
      }
    }
    // Once A's lease has expired (gone from /servers/), the copies still stand in for it.
    await waitFor(
      'A leaves /servers/',
      async () => (await client(C).servers()).replicas.length === 2,
      60_000,
    );
    const gone = await ask(C);
    check(gone, 'A gone from /servers/');
    assert.equal(gone['count']!.missing, undefined);
    assert.ok(gone['count']!.fromCopies?.[0]?.startsWith(`${idA}: `));

    // A and its successor both down: A's points had their only copy on B. The answer says so.
    await B.kill9();
    const both = await client(C).queryMetrics({
      name: 'copy_temperature',
      over: 'count',
      agg: 'sum',
      ...range,
    });
    assert.ok(
      both.missing?.some((m) => m.startsWith(`${idA}: `)),
      `A named missing: ${JSON.stringify(both.missing)}`,
    );
    assert.equal(allPoints(both).length, 0, 'none of A\u2019s points is left');
    await waitFor(
      'B leaves /servers/',
      async () => (await client(C).servers()).replicas.length === 1,
      60_000,
    );
    const alone = await client(C).queryMetrics({
      name: 'copy_temperature',
      over: 'count',
      agg: 'sum',
      ...range,
    });
    assert.equal(alone.missing?.length, 1, JSON.stringify(alone.missing));
    assert.ok(alone.missing[0]!.startsWith(`${idA}: `), alone.missing[0]);
    assert.ok(alone.missing[0]!.includes('no live replica holds a copy'), alone.missing[0]);
  },
);

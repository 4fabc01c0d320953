/**
 * Metrics across server replicas: three real `dabba server` processes on a real etcd cluster, points
 * of one counter shipped partly to each replica (as an agent's failovers spread them), and a query
 * asked of any replica gives the whole series: the same rate and sum as all the points in one place.
 * With one replica killed, queries keep answering, whole: its points come from the copies its
 * successor keeps.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import type { IngestBatch, MetricsQueryResult } from '../../src/model/index.ts';
import { etcdSkip, startEtcdCluster } from '../helpers/etcd-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';
import { waitFor } from './helpers.ts';
import { ServerProcs, type ServerProc } from './server-procs.ts';

const STEP = 10_000;

test(
  'metrics across 3 replicas on etcd: any replica answers for all; one killed is answered from its copies',
  { skip: etcdSkip(), timeout: 120_000 },
  async (t) => {
    const cluster = await startEtcdCluster({ members: 3 });
    t.after(() => cluster.stop());
    const ns = `/ha-${randomUUID().slice(0, 8)}`;
    const storeUrl = `etcd://${cluster.endpoints.map((e) => e.replace('http://', '')).join(',')}${ns}`;
    const procs = new ServerProcs();
    t.after(() => procs.stopAll());
    const servers: ServerProc[] = [];
    for (let i = 0; i < 3; i++) servers.push(await procs.start(storeUrl));
    const clients = servers.map(
      (s) => new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: s.url, timeoutMs: 20_000 }),
    );
    await waitFor(
      'every replica sees the 3',
      async () => {
        for (const c of clients) if ((await c.servers()).replicas.length !== 3) return false;
        return true;
      },
      30_000,
    );

    // 90 points, 10 s apart, ending now: a counter rising by 3 a step, on two tasks; the first
    // third shipped to replica 0, the second to 1, the last to 2 (each replica one run, as failovers
    // give). A gauge on the same hosts, interleaved across replicas point by point.
    const now = Math.floor(Date.now() / STEP) * STEP;
    const t0 = now - 89 * STEP;
    let seq = 0;
    for (let k = 0; k < 90; k++) {
      const replica = Math.floor(k / 30);
      const batch: IngestBatch = {
        host: 'h1',
        seq: ++seq,
        spool: 'metrics-replicas-test',
        series: [
          ...['a', 'b'].map((task) => ({
            name: 'demo_requests_total',
            labels: { job: 'demo', task: `demo-${task}`, namespace: 'default' },
            kind: 'counter' as const,
            samples: [[t0 + k * STEP, 100 + 3 * k]] as [number, number][],
          })),
        ],
      };
      await clients[replica]!.ingestMetrics(batch);
      await clients[k % 3]!.ingestMetrics({
        host: 'h2',
        seq: k + 1,
        spool: 'metrics-replicas-gauge',
        series: [
          {
            name: 'demo_temperature',
            labels: { job: 'demo', task: 'demo-a', namespace: 'default' },
            kind: 'gauge',
            samples: [[t0 + k * STEP, k % 10]],
          },
        ],
      });
    }

    // Hour steps from the hour before the first point: every point falls in the range.
    const HOUR = 3_600_000;
    const start = t0 - (t0 % HOUR);
    const range = { start: String(start), end: String(start + 2 * HOUR), step: '1h' };
    const expectations = async (c: DabbaClient): Promise<MetricsQueryResult> => {
      const increase = await c.queryMetrics({
        name: 'demo_requests_total',
        rate: true,
        agg: 'sum',
        ...range,
      });
      // The rate summed over both tasks, times the step, is the increase of both counters within it:
      // 3 per 10 s for each point after the first of the range, whichever replica holds it.
      const total = increase.series.flatMap((s) => s.points).reduce((a, [, v]) => a + (v * HOUR) / 1000, 0);
      assert.equal(Math.round(total), 2 * 3 * 89, JSON.stringify(increase));
      const gauge = await c.queryMetrics({ name: 'demo_temperature', over: 'max', agg: 'max', ...range });
      assert.equal(Math.max(...gauge.series.flatMap((s) => s.points.map(([, v]) => v))), 9);
      const count = await c.queryMetrics({ name: 'demo_temperature', over: 'count', agg: 'sum', ...range });
      assert.equal(
        count.series.flatMap((s) => s.points).reduce((a, [, v]) => a + v, 0),
        90,
        'every gauge point counted once',
      );
      return increase;
    };
    for (const c of clients) {
      const r = await expectations(c);
      assert.equal(r.missing, undefined, 'every replica answered');
    }

    // Replica 2 dies: its points come from the copies its successor keeps (replication), so the
    // answer is whole and says where they came from (test/ha/metrics-copies.test.ts goes further).
    await servers[2]!.kill9();
    const partial = await clients[0]!.queryMetrics({
      name: 'demo_temperature',
      over: 'count',
      agg: 'sum',
      ...range,
    });
    const counted = partial.series.flatMap((s) => s.points).reduce((a, [, v]) => a + v, 0);
    assert.equal(counted, 90, 'every point, the dead replica\u2019s from its copies');
    assert.equal(partial.missing, undefined, JSON.stringify(partial.missing));
    assert.equal(partial.fromCopies?.length, 1, JSON.stringify(partial));
    await waitFor(
      'the dead replica leaves /servers/ (lease expiry)',
      async () => (await clients[1]!.servers()).replicas.length === 2,
      30_000,
    );
    const after = await clients[1]!.queryMetrics({
      name: 'demo_temperature',
      over: 'count',
      agg: 'sum',
      ...range,
    });
    assert.equal(after.missing, undefined);
    assert.equal(after.fromCopies?.length, 1, JSON.stringify(after));
    assert.equal(
      after.series.flatMap((s) => s.points).reduce((a, [, v]) => a + v, 0),
      90,
    );
  },
);

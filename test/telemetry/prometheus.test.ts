/**
 * A real Prometheus (Debian's package) scrapes the server's own counters (`GET /metrics`, with a
 * viewer token) and federates the stored series (`GET /federate`); its query API must return the
 * values Dabba returns for the same series and counters.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { IngestSeries } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { startPrometheus, type PromSample, type TestPrometheus } from '../helpers/prometheus.ts';

const TASKS = ['web-1', 'web-2', 'web-3'];

/** Polls until `check` returns a value (not undefined), for up to 90 s. */
async function eventually<T>(what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 90_000;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((r) => setTimeout(r, 500));
  }
}

function byTask(samples: PromSample[]): Map<string, PromSample> {
  return new Map(samples.map((s) => [s.metric['task'] ?? '', s]));
}

describe('Prometheus scrapes /metrics and /federate', () => {
  let dir = '';
  let t: TestServer;
  let prom: TestPrometheus;
  let seq = 0;
  let pointsSent = 0;
  let batchesSent = 0;

  /** One point per task at `at` (counter values differ per task), shipped as host h1. */
  async function ship(at: number, base: number): Promise<void> {
    const series: IngestSeries[] = TASKS.map((task, i) => ({
      name: 'app_requests_total',
      labels: { namespace: 'shop', job: 'web', task },
      kind: 'counter',
      samples: [[at, base * (i + 1)]],
    }));
    series.push({
      name: 'app_queue_depth',
      labels: { namespace: 'shop', job: 'web' },
      kind: 'gauge',
      samples: [[at, base / 8]],
    });
    const r = await t.client.ingestMetrics({ host: 'h1', seq: ++seq, series });
    assert.equal(r.accepted, series.length);
    pointsSent += r.accepted;
    batchesSent++;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-prom-'));
    t = await startTestServer('prom', { telemetryDir: join(dir, 'tsdb') });
    // What docs/telemetry.md says to do: a viewer token for Prometheus, covering every namespace.
    const token = (await t.client.createToken({ name: 'prom', role: 'viewer', namespaces: '*' })).token;
    const target = new URL(t.server.url).host;
    prom = await startPrometheus([
      { name: 'dabba', target, path: '/metrics', token },
      {
        name: 'dabba-federate',
        target,
        path: '/federate',
        token,
        federate: true,
        params: { 'match[]': ['{__name__=~"app_.*"}'], namespace: ['*'] },
      },
    ]);
  });
  after(async () => {
    try {
      await prom?.close();
    } finally {
      try {
        await t?.close();
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }
  });

  test('federated series: the latest sample of each, with its labels and timestamp, as Dabba has it', async () => {
    const at = Math.floor(Date.now() / 1000) * 1000 - 2000;
    await ship(at, 100);
    const seen = await eventually('app_requests_total in Prometheus', async () => {
      const r = await prom.query('app_requests_total');
      return r.length === TASKS.length ? r : undefined;
    });
    const dabba = await t.client.with({ namespace: '*' }).queryMetrics({
      name: 'app_requests_total',
      start: String(at - 60_000),
      end: String(at),
      step: '1s',
    });
    const promByTask = byTask(seen);
    assert.equal(dabba.series.length, TASKS.length);
    for (const s of dabba.series) {
      const p = promByTask.get(s.labels['task'] ?? '');
      assert.ok(p, `Prometheus has ${s.labels['task']}`);
      // honor_labels: the stored labels (host from the ingest, namespace, job) come through as they are.
      assert.equal(p.metric['host'], 'h1');
      assert.equal(p.metric['namespace'], 'shop');
      assert.equal(p.metric['job'], 'web');
      assert.equal(Number(p.value?.[1]), s.points.at(-1)?.[1]);
    }
    // The sample's own timestamp is kept (honor_timestamps): a range query shows it.
    const raw = await prom.query('app_requests_total{task="web-2"}[5m]');
    assert.deepEqual(raw[0]?.values?.at(-1), [at / 1000, '200']);
  });

  test('a newer batch is federated too; both samples line up with Dabba points', async () => {
    const at = Math.floor(Date.now() / 1000) * 1000 - 1000;
    await ship(at, 130);
    const raw = await eventually('the second sample in Prometheus', async () => {
      const r = await prom.query('app_requests_total{task="web-3"}[5m]');
      return (r[0]?.values?.length ?? 0) >= 2 ? r[0]!.values! : undefined;
    });
    const dabba = await t.client.with({ namespace: 'shop' }).queryMetrics({
      name: 'app_requests_total',
      where: ['task=web-3'],
      start: String(at - 120_000),
      end: String(at),
      step: '1s',
    });
    const points = new Map(dabba.series[0]?.points.map(([ts, v]) => [ts / 1000, String(v)]));
    for (const [ts, v] of raw) assert.equal(points.get(ts), v, `sample at ${ts}`);
    assert.deepEqual(raw.at(-1), [at / 1000, '390']);
    const gauge = await prom.query('app_queue_depth');
    assert.equal(Number(gauge[0]?.value?.[1]), 130 / 8);
  });

  test("/metrics: the server's own counters as Dabba counted them", async () => {
    // The counters Prometheus sees equal what this test sent (after at least one scrape since).
    const ingested = await eventually('dabba_metrics_ingested_points_total', async () => {
      const r = await prom.query('dabba_metrics_ingested_points_total{job="dabba"}');
      return Number(r[0]?.value?.[1]) === pointsSent ? r : undefined;
    });
    assert.equal(ingested.length, 1);
    const requests = await eventually('ingest request count', async () => {
      const r = await prom.query(
        'dabba_api_requests_total{job="dabba",route="POST /v1/metrics/ingest",code="200"}',
      );
      return Number(r[0]?.value?.[1]) === batchesSent ? r : undefined;
    });
    assert.equal(requests.length, 1);
    // The latency histogram parses: its count equals the requests counted for the route.
    const count = await prom.query(
      'dabba_api_request_duration_seconds_count{job="dabba",route="POST /v1/metrics/ingest"}',
    );
    assert.equal(Number(count[0]?.value?.[1]), batchesSent);
    const up = await prom.query('up');
    assert.deepEqual(up.map((s) => [s.metric['job'], s.value?.[1]]).sort(), [
      ['dabba', '1'],
      ['dabba-federate', '1'],
    ]);
    // Prometheus's scrapes of /metrics are themselves counted (a viewer token got through). A scrape
    // is counted once answered, so the first one shows in the next: wait for a later scrape.
    const scrapes = await eventually('the scrapes of /metrics counted', async () => {
      const r = await prom.query('dabba_api_requests_total{job="dabba",route="GET /metrics",code="200"}');
      return Number(r[0]?.value?.[1]) >= 1 ? r : undefined;
    });
    assert.equal(scrapes.length, 1);
  });
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { CounterRegistry, renderOpenMetrics, renderPrometheus, serveMetrics } from './index.ts';

/**
 * A strict reading of OpenMetrics 1.0's text ABNF for what this library writes: metadata before
 * samples, one block per family, counters as NAME_total, histogram buckets cumulative and
 * ascending with le="+Inf" equal to _count, label values escaped, and `# EOF` last.
 */
function checkOpenMetrics(text: string): Map<string, number> {
  assert.ok(text.endsWith('# EOF\n'), 'ends with # EOF and a newline');
  const lines = text.slice(0, -1).split('\n');
  assert.equal(lines.pop(), '# EOF');
  const seenFamilies = new Set<string>();
  const samples = new Map<string, number>();
  let family: { name: string; type: string } | undefined;
  let lastLe = -Infinity;
  let infBucket: number | undefined;
  const sample =
    /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\})? (\S+)$/;
  for (const line of lines) {
    const meta = /^# (TYPE|HELP|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (meta) {
      const [, kw, name = '', rest = ''] = meta;
      if (kw === 'TYPE') {
        assert.ok(!seenFamilies.has(name), `family ${name} appears once`);
        seenFamilies.add(name);
        assert.ok(['counter', 'gauge', 'histogram', 'unknown'].includes(rest), `type ${rest}`);
        family = { name, type: rest };
        lastLe = -Infinity;
        infBucket = undefined;
      }
      continue;
    }
    const m = sample.exec(line);
    assert.ok(m, `sample line is well formed: ${line}`);
    assert.ok(family, 'a sample follows its TYPE');
    const [, name = '', labels = '', value = ''] = m;
    const n = value === '+Inf' ? Infinity : value === '-Inf' ? -Infinity : Number(value);
    assert.ok(value === 'NaN' || !Number.isNaN(n), `number ${value}`);
    const suffixes =
      family.type === 'counter'
        ? ['_total', '_created']
        : family.type === 'histogram'
          ? ['_bucket', '_count', '_sum']
          : [''];
    assert.ok(
      suffixes.some((s) => name === family?.name + s),
      `${name} belongs to family ${family.name}`,
    );
    if (name.endsWith('_bucket')) {
      const le = /le="([^"]+)"/.exec(labels)?.[1];
      assert.ok(le !== undefined, 'a bucket has le');
      const bound = le === '+Inf' ? Infinity : Number(le);
      assert.ok(bound > lastLe, 'buckets ascend');
      lastLe = bound;
      if (bound === Infinity) infBucket = n;
    }
    if (name.endsWith('_count') && family.type === 'histogram') {
      assert.equal(n, infBucket, '_count equals the +Inf bucket');
      lastLe = -Infinity;
    }
    if (family.type === 'counter') assert.ok(n >= 0, 'counters are non-negative');
    samples.set(name + labels, n);
  }
  return samples;
}

function fill(r: CounterRegistry): void {
  r.describe('hello_requests_total', 'counter', 'Requests "served"\nby hello');
  for (let i = 0; i < 7; i++) r.incrementCounter('hello_requests_total');
  r.incrementCounter('http_responses', 2, { code: '200', path: '/a"b\\c\nd' });
  r.setCounter('bytes_total', 1024);
  r.setGauge('queue_depth', -3.5);
  r.incrementGauge('inflight', 2);
  r.defineHistogram('latency_seconds', [0.1, 1, 10], 'Latency');
  for (const v of [0.05, 0.1, 0.5, 2, 20]) r.observe('latency_seconds', v);
  r.observe('latency_seconds', 0.2, { route: 'x' });
}

test('getCounters is a flat map of every sample, histograms cumulative', () => {
  const r = new CounterRegistry();
  fill(r);
  const c = r.getCounters();
  assert.equal(c['hello_requests_total'], 7);
  assert.equal(c['http_responses_total{code="200",path="/a\\"b\\\\c\\nd"}'], 2);
  assert.equal(c['bytes_total'], 1024);
  assert.equal(c['queue_depth'], -3.5);
  assert.equal(c['inflight'], 2);
  assert.equal(c['latency_seconds_bucket{le="0.1"}'], 2);
  assert.equal(c['latency_seconds_bucket{le="1.0"}'], 3);
  assert.equal(c['latency_seconds_bucket{le="10.0"}'], 4);
  assert.equal(c['latency_seconds_bucket{le="+Inf"}'], 5);
  assert.equal(c['latency_seconds_count'], 5);
  assert.equal(c['latency_seconds_sum'], 22.65);
  assert.equal(c['latency_seconds_count{route="x"}'], 1);
});

test('the OpenMetrics text follows the format, with the same values as getCounters', () => {
  const r = new CounterRegistry();
  fill(r);
  const text = renderOpenMetrics(r);
  const samples = checkOpenMetrics(text);
  assert.deepEqual(Object.fromEntries(samples), r.getCounters());
  assert.match(text, /^# HELP hello_requests Requests \\"served\\"\\nby hello$/m);
  assert.match(text, /^# TYPE hello_requests counter$/m);
  assert.equal(checkOpenMetrics(renderOpenMetrics(new CounterRegistry())).size, 0);
});

test(
  'promtool accepts the Prometheus text',
  { skip: spawnSync('promtool', ['--version']).error !== undefined },
  () => {
    const r = new CounterRegistry();
    fill(r);
    const out = spawnSync('promtool', ['check', 'metrics'], { input: renderPrometheus(r), encoding: 'utf8' });
    // promtool exits 3 for lint warnings only (e.g. a counter without HELP); 1 for a parse error.
    assert.notEqual(out.status, 1, out.stderr);
    assert.doesNotMatch(out.stderr + out.stdout, /error|parse/i);
  },
);

test('bad names, labels and increments are refused at the call', () => {
  const r = new CounterRegistry();
  assert.throws(() => r.incrementCounter('bad.name'), TypeError);
  assert.throws(() => r.incrementCounter('x', -1), RangeError);
  assert.throws(() => r.incrementCounter('x', 1, { 'bad-label': 'v' }), TypeError);
  assert.throws(() => r.observe('h', 1, { le: '1' }), TypeError);
  r.setGauge('g', 1);
  assert.throws(() => r.incrementCounter('g'), TypeError, 'a gauge is not a counter');
  assert.throws(() => r.defineHistogram('h2', [1, 1]), RangeError);
});

test('timers observe elapsed seconds', async () => {
  const r = new CounterRegistry();
  await r.time('work_seconds', () => new Promise((res) => setTimeout(res, 20)));
  const c = r.getCounters();
  assert.equal(c['work_seconds_count'], 1);
  assert.ok((c['work_seconds_sum'] ?? 0) >= 0.015);
});

test('the handler serves both formats and the JSON map', async (t) => {
  const r = new CounterRegistry();
  fill(r);
  const server = await serveMetrics({ registry: r, host: '127.0.0.1' });
  t.after(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const get = (path: string, accept?: string) =>
    new Promise<{ status: number; type: string; body: string }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers: accept ? { accept } : {} }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', body }),
        );
      });
      req.on('error', reject);
      req.end();
    });
  const prom = await get('/metrics');
  assert.match(prom.type, /^text\/plain; version=0\.0\.4/);
  assert.match(prom.body, /^hello_requests_total 7$/m);
  const om = await get('/metrics', 'application/openmetrics-text;version=1.0.0');
  assert.match(om.type, /^application\/openmetrics-text/);
  checkOpenMetrics(om.body);
  const json = await get('/counters');
  assert.deepEqual(JSON.parse(json.body), r.getCounters());
  assert.deepEqual(JSON.parse((await get('/metrics', 'application/json')).body), r.getCounters());
  assert.equal((await get('/other')).status, 404);
});

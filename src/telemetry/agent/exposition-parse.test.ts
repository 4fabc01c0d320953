import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  CounterRegistry,
  renderJson,
  renderOpenMetrics,
  renderPrometheus,
} from '../../sdk/counters/index.ts';
import { parseExposition, parseJsonMap, parsePrometheusText } from './exposition-parse.ts';

function registry(): CounterRegistry {
  const r = new CounterRegistry();
  r.incrementCounter('hello_requests_total', 5);
  r.incrementCounter('http_responses', 2, { code: '500', path: 'a"b\\c\nd' });
  r.setGauge('queue_depth', 3.25);
  r.defineHistogram('latency_seconds', [0.1, 1]);
  for (const v of [0.05, 0.5, 5]) r.observe('latency_seconds', v);
  return r;
}

const asMap = (samples: { name: string; labels: Record<string, string>; value: number }[]) =>
  Object.fromEntries(
    samples.map((s) => [
      s.name +
        (Object.keys(s.labels).length
          ? `{${Object.keys(s.labels)
              .sort()
              .map((k) => `${k}=${JSON.stringify(s.labels[k])}`)
              .join(',')}}`
          : ''),
      s.value,
    ]),
  );

test('the three formats the SDK serves read back to the same samples and kinds', () => {
  const r = registry();
  const om = parsePrometheusText(renderOpenMetrics(r));
  const prom = parsePrometheusText(renderPrometheus(r));
  const json = parseJsonMap(renderJson(r));
  for (const p of [om, prom, json]) {
    assert.equal(p.invalid, 0);
    assert.equal(p.dropped, 0);
  }
  assert.deepEqual(asMap(om.samples), asMap(prom.samples));
  assert.deepEqual(asMap(om.samples), asMap(json.samples));
  const kinds = Object.fromEntries(om.samples.map((s) => [s.name, s.kind]));
  assert.deepEqual(kinds, {
    hello_requests_total: 'counter',
    http_responses_total: 'counter',
    queue_depth: 'gauge',
    latency_seconds_bucket: 'histogram',
    latency_seconds_count: 'histogram',
    latency_seconds_sum: 'histogram',
  });
  const labelled = om.samples.find((s) => s.name === 'http_responses_total');
  assert.deepEqual(labelled?.labels, { code: '500', path: 'a"b\\c\nd' });
  assert.equal(asMap(json.samples)['hello_requests_total'], 5);
});

test('a Prometheus exposition with timestamps, untyped lines, summaries and CRLF', () => {
  const text = [
    '# HELP rpc_seconds RPC latency.',
    '# TYPE rpc_seconds summary',
    'rpc_seconds{quantile="0.5"} 0.2 1700000000000',
    'rpc_seconds_sum 10',
    'rpc_seconds_count 40',
    'plain_total 7',
    'temp -1.5e2',
    'inf_gauge +Inf\r',
  ].join('\n');
  const r = parsePrometheusText(text);
  assert.equal(r.invalid, 0);
  const byName = Object.fromEntries(r.samples.map((s) => [s.name, s]));
  assert.equal(byName['rpc_seconds']?.kind, 'gauge');
  assert.equal(byName['rpc_seconds_count']?.kind, 'counter');
  assert.equal(byName['plain_total']?.kind, 'counter');
  assert.equal(byName['temp']?.value, -150);
  assert.equal(byName['inf_gauge']?.value, Infinity);
});

test('garbage lines are skipped and counted, never thrown', () => {
  const text = [
    'good 1',
    'bad{ 1',
    'bad{a="unterminated} 1',
    'bad{a="x",a="y"} 1',
    'bad{a="\\q"} 1',
    '9starts_with_digit 1',
    'no_value',
    'not_a_number abc',
    'alsogood{x="1"} 2',
  ].join('\n');
  const r = parsePrometheusText(text);
  assert.deepEqual(
    r.samples.map((s) => s.name),
    ['good', 'alsogood'],
  );
  assert.equal(r.invalid, 7);
  assert.deepEqual(parseJsonMap('[1,2]'), { samples: [], invalid: 1, dropped: 0 });
  assert.deepEqual(parseJsonMap('{"a": 1, "b": "x", "c d": 2, "e{f=\\"g\\"}": 3}').samples.length, 2);
  assert.equal(parseExposition('not json {', 'application/json').invalid, 1);
});

test('limits: samples, labels, name and value lengths', () => {
  const limits = { maxSamples: 10, maxLabels: 2, maxNameLength: 20, maxValueLength: 8 };
  const many = Array.from({ length: 50 }, (_, i) => `m${i} ${i}`).join('\n');
  const r = parsePrometheusText(many, limits);
  assert.equal(r.samples.length, 10);
  assert.equal(r.dropped, 40);
  const odd = [
    'x{a="1",b="2",c="3"} 1',
    `${'n'.repeat(30)} 1`,
    'y{a="123456789"} 1',
    'z{a="12345678"} 1',
  ].join('\n');
  const o = parsePrometheusText(odd, limits);
  assert.deepEqual(
    o.samples.map((s) => s.name),
    ['z'],
  );
  assert.equal(o.invalid, 3);
  const json = JSON.stringify(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`k${i}`, i])));
  assert.equal(parseJsonMap(json, limits).dropped, 40);
});

test('any input parses without throwing, within the limits', () => {
  const limits = { maxSamples: 20, maxLabels: 4, maxNameLength: 16, maxValueLength: 16 };
  const alphabet = fc.constantFrom(...'ab_:{}="\\,\n #0123456789.+-eEInfNaTYPE'.split(''));
  fc.assert(
    fc.property(fc.string({ unit: alphabet, maxLength: 400 }), fc.string({ maxLength: 200 }), (a, b) => {
      for (const text of [a, b, `{${a}}`]) {
        for (const ct of [undefined, 'text/plain', 'application/json']) {
          const r = parseExposition(text, ct, limits);
          assert.ok(r.samples.length <= limits.maxSamples);
          for (const s of r.samples) {
            assert.ok(s.name.length <= limits.maxNameLength);
            assert.ok(Object.keys(s.labels).length <= limits.maxLabels);
          }
        }
      }
    }),
    { numRuns: 500 },
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { parseSelector } from './federate.ts';
import { Registry } from './registry.ts';

test('selectors: names, label matchers with escapes, and clear refusals', () => {
  assert.deepEqual(parseSelector('up').matchers, [{ label: '__name__', op: '=', value: 'up' }]);
  assert.deepEqual(parseSelector('http_total{job="web", task=~"web-.*",code!="5\\"00"}').matchers, [
    { label: '__name__', op: '=', value: 'http_total' },
    { label: 'job', op: '=', value: 'web' },
    { label: 'task', op: '=~', value: 'web-.*' },
    { label: 'code', op: '!=', value: '5"00' },
  ]);
  assert.deepEqual(parseSelector('{__name__=~"app_.*"}').matchers, [
    { label: '__name__', op: '=~', value: 'app_.*' },
  ]);
  for (const bad of ['', '{}', '{job!="x"}', 'up{job=web}', 'up extra']) {
    assert.throws(
      () => parseSelector(bad),
      (e: unknown) => e instanceof DabbaError && e.code === 'DABBA_E_VALIDATION',
      bad,
    );
  }
});

test('exposition: Prometheus text names counters NAME_total; OpenMetrics names the family NAME and ends with # EOF', () => {
  const r = new Registry();
  const c = r.counter('x_events', 'events', ['kind']);
  c.inc(['a"b\\c\nd'], 2);
  const req = r.requests('x_requests', 'requests', 'x_seconds', 'latency');
  req.observe('GET /v1/x', 200, 0.003);
  req.observe('GET /v1/x', 404, 20);
  const text = r.expose(false);
  assert.match(text, /^# TYPE x_events_total counter$/m);
  assert.match(text, /^x_events_total\{kind="a\\"b\\\\c\\nd"\} 2$/m);
  assert.match(text, /^x_requests_total\{route="GET \/v1\/x",code="404"\} 1$/m);
  assert.match(text, /^x_seconds_bucket\{route="GET \/v1\/x",le="0.005"\} 1$/m);
  assert.match(text, /^x_seconds_bucket\{route="GET \/v1\/x",le="\+Inf"\} 2$/m);
  assert.match(text, /^x_seconds_count\{route="GET \/v1\/x"\} 2$/m);
  assert.doesNotMatch(text, /# EOF/);
  const om = r.expose(true);
  assert.match(om, /^# TYPE x_events counter$/m);
  assert.match(om, /^x_events_total\{/m);
  assert.ok(om.endsWith('# EOF\n'));
});

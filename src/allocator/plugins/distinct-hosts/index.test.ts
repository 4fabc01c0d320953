import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

test('at most one task of the job per host, counting existing tasks', () => {
  const hosts = [host('a'), host('b'), host('c')];
  const r = allocate({
    hosts,
    seed: 1,
    tasks: asks('web', 3, { distinctHosts: true, existing: { perHost: new Map([['b', 1]]) } }),
  });
  assert.deepEqual(perHost(r.placements), { a: 1, c: 1 });
  const e = r.failures.get('web-3');
  assert.ok(e);
  assert.deepEqual(e.filters[2], {
    filter: 'distinct-hosts',
    rejected: 3,
    reasons: [{ reason: 'already running web', hosts: 3, examples: ['a', 'b', 'c'] }],
  });
  assert.deepEqual(e.suggestions, [
    'each of the 3 hosts that would fit already runs a task of web (a, b, c): add hosts or allow several tasks per host',
  ]);
});

test('other jobs do not count', () => {
  const r = allocate({
    hosts: [host('a')],
    seed: 1,
    tasks: [...asks('x', 1, { distinctHosts: true }), ...asks('y', 1, { distinctHosts: true })],
  });
  assert.equal(r.placements.size, 2);
});

test('binpack scoring with distinct hosts still spreads the job', () => {
  const r = allocate({
    hosts: [host('a'), host('b')],
    seed: 1,
    tasks: asks('web', 2, { distinctHosts: true }),
    options: { scoring: 'binpack' },
  });
  assert.deepEqual(perHost(r.placements), { a: 1, b: 1 });
});

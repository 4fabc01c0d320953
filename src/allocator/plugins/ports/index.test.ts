import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

const http = [{ name: 'http', port: 8080, protocol: 'tcp' as const }];

test('off by default: tasks declaring the same port share a host', () => {
  const r = allocate({
    hosts: [host('a')],
    seed: 1,
    tasks: asks('web', 3, { ports: http }),
    options: { usedPorts: new Map([['a', [8080]]]) },
  });
  assert.deepEqual(perHost(r.placements), { a: 3 });
});

test('uniquePorts: a host whose port is in use, or taken by this batch, does not fit', () => {
  const r = allocate({
    hosts: [host('a'), host('b'), host('c')],
    seed: 1,
    tasks: asks('web', 3, { ports: http, uniquePorts: true }),
    options: { usedPorts: new Map([['a', [8080, 9090]]]) },
  });
  assert.deepEqual(perHost(r.placements), { b: 1, c: 1 });
  const e = r.failures.get('web-3');
  assert.ok(e);
  assert.deepEqual(e.needs.ports, [8080]);
  assert.deepEqual(e.filters[1], {
    filter: 'ports',
    rejected: 3,
    reasons: [{ reason: 'port 8080 in use', hosts: 3, examples: ['a', 'b', 'c'] }],
  });
  assert.deepEqual(e.suggestions, [
    'port 8080 in use on the 3 hosts that would fit otherwise (a, b, c): free the port or add hosts',
  ]);
});

test('another job binding the same port counts; other ports do not', () => {
  const r = allocate({
    hosts: [host('a')],
    seed: 1,
    tasks: [
      ...asks('one', 1, { ports: http, uniquePorts: true }),
      ...asks('two', 1, { ports: [{ name: 'x', port: 9000, protocol: 'tcp' }], uniquePorts: true }),
      ...asks('three', 1, { ports: http, uniquePorts: true }),
    ],
  });
  assert.deepEqual(Object.fromEntries(r.placements), { 'one-1': 'a', 'two-1': 'a' });
  assert.ok(r.failures.has('three-1'));
});

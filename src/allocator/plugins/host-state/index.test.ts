import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

test('only ready hosts take tasks', () => {
  const hosts = [
    host('a', { state: 'cordoned' }),
    host('b', { state: 'draining' }),
    host('c', { state: 'down' }),
    host('d'),
  ];
  const r = allocate({ hosts, seed: 1, tasks: asks('web', 3) });
  assert.deepEqual(perHost(r.placements), { d: 3 });
});

test('hosts not ready are counted by state, and the ones that would fit are named', () => {
  const hosts = [
    host('a', { state: 'cordoned' }),
    host('b', { state: 'down' }),
    host('c', { state: 'down' }),
    host('d', { state: 'draining', cpu: 0.5 }),
  ];
  const r = allocate({ hosts, seed: 1, tasks: asks('web', 1) });
  const e = r.failures.get('web-1');
  assert.ok(e);
  assert.deepEqual(e.filters[0], {
    filter: 'host-state',
    rejected: 4,
    reasons: [
      { reason: 'down', hosts: 2, examples: ['b', 'c'] },
      { reason: 'cordoned', hosts: 1, examples: ['a'] },
      { reason: 'draining', hosts: 1, examples: ['d'] },
    ],
  });
  // d is draining and also too small: only a, b, c would fit if they were ready
  assert.deepEqual(e.suggestions, ['3 hosts would fit if ready: a (cordoned), b (down), c (down)']);
});

test('a ready host with a reported condition takes no new task, and the condition is the reason', () => {
  const full = host('a');
  full.conditions = [{ type: 'DiskFull', message: 'no space left in /data', since: 1 }];
  const pressure = host('b');
  pressure.conditions = [{ type: 'DiskPressure', message: 'below the watermark', since: 1 }];
  const r = allocate({ hosts: [full, pressure, host('c')], seed: 1, tasks: asks('web', 2) });
  assert.deepEqual(perHost(r.placements), { c: 2 });
  const none = allocate({ hosts: [full, pressure], seed: 1, tasks: asks('web', 1) });
  const e = none.failures.get('web-1');
  assert.ok(e);
  assert.deepEqual(e.filters[0], {
    filter: 'host-state',
    rejected: 2,
    reasons: [
      { reason: 'DiskFull', hosts: 1, examples: ['a'] },
      { reason: 'DiskPressure', hosts: 1, examples: ['b'] },
    ],
  });
  assert.deepEqual(e.suggestions, ['2 hosts would fit if ready: a (DiskFull), b (DiskPressure)']);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

test('spread scoring: fewest tasks of the job first, even on a smaller host', () => {
  const r = allocate({
    hosts: [host('big', { cpu: 64 }), host('small', { cpu: 4 })],
    seed: 1,
    tasks: asks('web', 4),
  });
  assert.deepEqual(perHost(r.placements), { big: 2, small: 2 });
});

test('existing tasks of the job count', () => {
  const r = allocate({
    hosts: [host('a'), host('b')],
    seed: 1,
    tasks: asks('web', 2, { existing: { perHost: new Map([['a', 3]]) } }),
  });
  assert.deepEqual(perHost(r.placements), { b: 2 });
});

test('off with binpack scoring', () => {
  const r = allocate({
    hosts: [host('a'), host('b')],
    seed: 1,
    tasks: asks('web', 4),
    options: { scoring: 'binpack' },
  });
  assert.equal(Object.keys(perHost(r.placements)).length, 1);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, Gi, host } from '../../test-fixtures.ts';

const hosts = [
  host('empty', { cpu: 8, memoryBytes: 16 * Gi }),
  host('half', { cpu: 8, memoryBytes: 16 * Gi, allocated: { cpu: 4, memoryBytes: 8 * Gi } }),
  host('full', { cpu: 8, memoryBytes: 16 * Gi, allocated: { cpu: 7, memoryBytes: 15 * Gi } }),
];

test('spread (the default) picks the least allocated host', () => {
  assert.equal(allocate({ hosts, seed: 1, tasks: asks('x', 1) }).placements.get('x-1'), 'empty');
});

test('binpack picks the most allocated host that fits, and fills it before the next', () => {
  const r = allocate({
    hosts,
    seed: 1,
    tasks: asks('x', 3, { memoryBytes: Gi / 2 }),
    options: { scoring: 'binpack' },
  });
  assert.deepEqual([...r.placements.values()], ['full', 'half', 'half']);
});

test('spread uses capacity fractions: a big host with more free room wins over a small empty one', () => {
  const r = allocate({
    hosts: [
      host('small', { cpu: 2, memoryBytes: 2 * Gi }),
      host('big', { cpu: 64, memoryBytes: 256 * Gi, allocated: { cpu: 8 } }),
    ],
    seed: 1,
    tasks: asks('x', 1),
  });
  assert.equal(r.placements.get('x-1'), 'big');
});

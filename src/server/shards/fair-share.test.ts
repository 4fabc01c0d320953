import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { acquireOrder, chooseRelease, homeOf, quotaAt, quotas } from './fair-share.ts';
import { fnv1a32, shardOf } from './hash.ts';

test('quotas add up to the shard count and differ by at most one', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 1, max: 4096 }), (replicas, shards) => {
      const qs = Array.from({ length: replicas }, (_, i) => quotaAt(i, replicas, shards));
      assert.equal(
        qs.reduce((a, b) => a + b, 0),
        shards,
      );
      assert.ok(Math.max(...qs) - Math.min(...qs) <= 1);
    }),
  );
  assert.deepEqual(
    [...quotas(['c', 'a', 'b'], 16)],
    [
      ['a', 6],
      ['b', 5],
      ['c', 5],
    ],
  );
  assert.equal(quotaAt(3, 3, 16), 0, 'not a live replica: no share');
});

test('every replica computes the same quotas whatever order it lists the replicas in', () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.string({ minLength: 1 }), { minLength: 1, maxLength: 8 }), (ids) => {
      const a = quotas(ids, 16);
      const b = quotas([...ids].reverse(), 16);
      assert.deepEqual([...a].sort(), [...b].sort());
    }),
  );
});

test('release gives back non-home shards first, highest first, down to the quota', () => {
  const live = ['a', 'b'];
  // home: even shards -> a, odd -> b
  assert.equal(homeOf(4, live), 'a');
  assert.equal(homeOf(5, live), 'b');
  assert.deepEqual(chooseRelease([0, 1, 2, 3, 4, 5], 3, 'a', live), [5, 3, 1]);
  assert.deepEqual(chooseRelease([0, 2, 4, 6], 2, 'a', live), [6, 4]);
  assert.deepEqual(chooseRelease([0, 1], 2, 'a', live), []);
  assert.deepEqual(acquireOrder([5, 4, 3, 2], 'a', live), [2, 4, 3, 5]);
});

test('the job hash is stable (shards must not move between releases)', () => {
  // Fixed values: changing the hash would move every job to another shard on upgrade.
  assert.equal(fnv1a32(''), 0x811c9dc5);
  assert.equal(fnv1a32('a'), 0xe40c292c);
  assert.equal(fnv1a32('foobar'), 0xbf9cf968);
  assert.equal(shardOf('web', 16), fnv1a32('web') % 16);
  const counts = new Array<number>(16).fill(0);
  for (let i = 0; i < 1600; i++) counts[shardOf(`job-${i}`, 16)]!++;
  assert.ok(Math.min(...counts) > 60 && Math.max(...counts) < 140, `spread: ${counts.join(',')}`);
});

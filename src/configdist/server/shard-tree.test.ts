/**
 * The shard tree under random joins and leaves: the fan-out stays bounded, every member but the
 * root has a parent in the tree, the depth is the F-ary heap's, and every member whose position
 * (parent, children) changed is among those reported, so telling them is enough. Fan-out 0: a star.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TreePosition } from '../../model/index.ts';
import { ShardTree, type TreeMember } from './shard-tree.ts';

function positions(t: ShardTree): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of t.order) {
    const p: TreePosition = t.position(m, 1000);
    out.set(m.host, JSON.stringify({ parent: p.parent, children: p.children }));
  }
  return out;
}

function checkShape(t: ShardTree): void {
  const hosts = new Set(t.order.map((m) => m.host));
  assert.equal(hosts.size, t.size, 'no host twice');
  for (const [i, m] of t.order.entries()) {
    assert.equal(m.index, i);
    assert.ok(t.childrenOf(m).length <= t.fanout, 'fan-out bounded');
    const parent = t.parentOf(m);
    if (i === 0) assert.equal(parent, undefined);
    else assert.ok(parent !== undefined && hosts.has(parent.host), `${m.host} has a parent in the tree`);
  }
  if (t.size > 0) {
    let d = 0;
    for (let cap = 1, n = 1; n < t.size; d++) n += cap *= t.fanout;
    assert.equal(t.depth(), d, `depth of ${t.size} members with fan-out ${t.fanout}`);
  }
}

for (const fanout of [1, 2, 3, 8]) {
  test(`random joins and leaves keep the tree whole (fan-out ${fanout})`, () => {
    const t = new ShardTree(0, fanout);
    let seed = 42 + fanout;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let step = 0; step < 800; step++) {
      const before = positions(t);
      let changed: TreeMember[];
      let gone: string | undefined;
      if (t.size === 0 || rand(3) > 0) {
        const m = { host: `h${step}`, url: `http://h${step}`, index: 0, lastSeen: step };
        changed = t.join(m);
      } else {
        const victim = t.order[rand(t.size)];
        assert.ok(victim);
        gone = victim.host;
        changed = t.leave(victim);
      }
      checkShape(t);
      const after = positions(t);
      const told = new Set(changed.map((m) => m.host));
      for (const [host, pos] of after) {
        if (before.get(host) !== pos)
          assert.ok(told.has(host), `step ${step}: ${host} moved but was not told`);
      }
      if (gone !== undefined) assert.ok(!told.has(gone));
    }
  });
}

test('a member replaced by a rejoin is not removed by its old stream', () => {
  const t = new ShardTree(0, 2);
  const a = { host: 'a', url: 'http://a1', index: 0, lastSeen: 0 };
  t.join(a);
  t.join({ host: 'b', url: 'http://b', index: 0, lastSeen: 0 });
  const a2 = { host: 'a', url: 'http://a2', index: 0, lastSeen: 1 };
  const told = t.join(a2).map((m) => m.host);
  assert.deepEqual(told.sort(), ['a', 'b'], 'its child hears of its new address');
  assert.deepEqual(t.leave(a), []);
  assert.equal(t.get('a'), a2);
  assert.equal(t.position(t.order[1]!, 1).parent?.url, 'http://a2');
});

test('positions list the ancestors beyond the parent as fallbacks, nearest first', () => {
  const t = new ShardTree(3, 2);
  for (let i = 0; i < 15; i++) t.join({ host: `h${i}`, url: `http://h${i}`, index: 0, lastSeen: 0 });
  const leaf = t.order[14]!;
  const p = t.position(leaf, 500);
  assert.equal(p.depth, 3);
  assert.equal(p.parent?.host, 'h6');
  assert.deepEqual(
    p.fallbacks.map((f) => f.host),
    ['h2', 'h0'],
  );
  assert.equal(p.shard, 3);
  assert.equal(p.heartbeatMs, 500);
  assert.equal(t.position(t.order[0]!, 500).parent, null);
});

test('fan-out 0 is a star: every member fetches from the server', () => {
  const t = new ShardTree(0, 0);
  for (let i = 0; i < 5; i++) t.join({ host: `h${i}`, url: `http://h${i}`, index: 0, lastSeen: 0 });
  t.leave(t.order[2]!);
  assert.equal(t.depth(), 0);
  for (const m of t.order) {
    const p = t.position(m, 1);
    assert.equal(p.parent, null);
    assert.deepEqual(p.children, []);
    assert.deepEqual(p.fallbacks, []);
  }
});

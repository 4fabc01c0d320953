/**
 * Rack-aware trees (docs/config.md, "Distribution"): a host's parent is in its own rack whenever
 * its rack has an earlier member, only a rack's first member fetches across racks, and that holds
 * through random joins and leaves (with every member whose position changed among those told).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ShardTree, type TreeMember } from './shard-tree.ts';

const member = (host: string, rack?: string): TreeMember => ({
  host,
  url: `http://${host}`,
  index: 0,
  lastSeen: 0,
  ...(rack === undefined ? {} : { rack }),
});

function positions(t: ShardTree): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of t.order) {
    const p = t.position(m, 1000);
    out.set(m.host, JSON.stringify({ parent: p.parent, children: p.children }));
  }
  return out;
}

/** Same-rack parents, one cross-rack edge per rack but the root's, bounded fan-out, depths. */
function checkRacks(t: ShardTree): void {
  const members = t.order;
  assert.equal(new Set(members.map((m) => m.host)).size, t.size, 'no host twice');
  const racks = new Set(members.map((m) => m.rack ?? ''));
  assert.equal(t.racks, racks.size);
  let roots = 0;
  let crossEdges = 0;
  let depth = -1;
  for (const m of members) {
    const parent = t.parentOf(m);
    const children = t.childrenOf(m);
    assert.ok(children.filter((c) => c.rack === m.rack).length <= t.fanout, 'in-rack fan-out bounded');
    assert.ok(children.length <= 2 * t.fanout, 'fan-out bounded');
    for (const c of children) assert.equal(t.parentOf(c), m, `${c.host} is ${m.host}'s child`);
    depth = Math.max(depth, t.depthOf(m));
    if (parent === undefined) {
      roots++;
      assert.equal(t.depthOf(m), 0);
      continue;
    }
    assert.ok(t.get(parent.host) === parent, `${m.host}'s parent is in the tree`);
    assert.equal(t.depthOf(m), t.depthOf(parent) + 1);
    if ((parent.rack ?? '') !== (m.rack ?? '')) {
      crossEdges++;
      // Across racks only when no earlier member of its rack could be the parent.
      assert.equal(m.index, 0, `${m.host} (rack ${m.rack}) fetches across racks only as its rack's first`);
    }
  }
  if (t.size > 0) {
    assert.equal(roots, 1, 'one root');
    assert.equal(crossEdges, racks.size - 1, 'one cross-rack edge per rack but the root rack');
  }
  assert.equal(t.depth(), depth);
}

test('hosts joining rack after rack in turn get parents in their own rack', () => {
  const t = new ShardTree(0, 2);
  // a0 b0 c0 a1 b1 c1 ...: a tree by join order would hang most hosts below another rack's host.
  for (let i = 0; i < 5; i++) for (const r of ['a', 'b', 'c']) t.join(member(`${r}${i}`, r));
  checkRacks(t);
  const parent = (h: string): string | undefined => t.parentOf(t.get(h)!)?.host;
  assert.equal(parent('a0'), undefined, 'the first host is the root');
  assert.equal(parent('b0'), 'a0', "rack b's first hangs below the root (across racks)");
  assert.equal(parent('c0'), 'a0');
  for (const r of ['a', 'b', 'c']) {
    assert.equal(parent(`${r}1`), `${r}0`);
    assert.equal(parent(`${r}2`), `${r}0`);
    assert.equal(parent(`${r}3`), `${r}1`);
    assert.equal(parent(`${r}4`), `${r}1`);
  }
  assert.deepEqual(
    t.childrenOf(t.get('a0')!).map((m) => m.host),
    ['a1', 'a2', 'b0', 'c0'],
  );
  assert.equal(t.depth(), 3, 'c3: rack c at depth 1, then two levels in its rack');
  assert.equal(t.position(t.get('c3')!, 1).depth, 3);
  assert.deepEqual(
    t.position(t.get('c3')!, 1).fallbacks.map((f) => f.host),
    ['c0', 'a0'],
  );
});

test('a rack whose hosts all leave is replaced by the last rack; the others move up within their rack', () => {
  const t = new ShardTree(0, 2);
  for (const r of ['a', 'b', 'c', 'd']) for (let i = 0; i < 3; i++) t.join(member(`${r}${i}`, r));
  checkRacks(t);
  // b's first leaves: b2 (its rack's last) takes its place, still within rack b.
  const told = t.leave(t.get('b0')!).map((m) => m.host);
  checkRacks(t);
  assert.equal(t.parentOf(t.get('b2')!)?.host, 'a0');
  assert.equal(t.parentOf(t.get('b1')!)?.host, 'b2');
  for (const h of ['b2', 'b1', 'a0', 'd0']) assert.ok(told.includes(h), `${h} told`);
  for (const h of ['b1', 'b2']) t.leave(t.get(h)!);
  checkRacks(t);
  assert.equal(t.racks, 3);
  assert.equal(t.parentOf(t.get('d0')!)?.host, 'a0', 'rack d took rack b place');
  assert.equal(t.parentOf(t.get('d1')!)?.host, 'd0');
});

test('random joins and leaves over racks keep the tree whole and rack-aware', () => {
  for (const fanout of [1, 2, 3]) {
    const t = new ShardTree(0, fanout);
    let seed = 7 + fanout;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const racks = ['r0', 'r1', 'r2', 'r3', 'r4', undefined];
    for (let step = 0; step < 500; step++) {
      const before = positions(t);
      let changed: TreeMember[];
      let gone: string | undefined;
      const roll = rand(10);
      if (t.size === 0 || roll < 6) {
        changed = t.join(member(`h${step}`, racks[rand(racks.length)]));
      } else if (roll < 7) {
        // A host joins again with another rack (relabelled): it moves to that rack.
        const again = t.order[rand(t.size)]!;
        changed = t.join(member(again.host, racks[rand(racks.length)]));
      } else {
        const victim = t.order[rand(t.size)]!;
        gone = victim.host;
        changed = t.leave(victim);
      }
      checkRacks(t);
      const after = positions(t);
      const told = new Set(changed.map((m) => m.host));
      for (const [host, pos] of after)
        if (before.get(host) !== pos)
          assert.ok(told.has(host), `step ${step}: ${host} moved but was not told`);
      if (gone !== undefined) assert.ok(!told.has(gone));
    }
  }
});

test('without racks, or with every host a rack of its own, the tree is the plain F-ary heap', () => {
  const none = new ShardTree(0, 3);
  const own = new ShardTree(0, 3);
  for (let i = 0; i < 40; i++) {
    none.join(member(`h${i}`));
    own.join(member(`h${i}`, `r${i}`));
  }
  for (const t of [none, own]) {
    for (let i = 1; i < 40; i++)
      assert.equal(t.parentOf(t.get(`h${i}`)!)?.host, `h${Math.floor((i - 1) / 3)}`);
    assert.equal(t.depth(), 3);
  }
});

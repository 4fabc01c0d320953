import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate } from '../../index.ts';
import { asks, host, placement } from '../../test-fixtures.ts';

const racks = [
  host('a1', { labels: { rack: 'r1' } }),
  host('a2', { labels: { rack: 'r1' } }),
  host('b1', { labels: { rack: 'r2' } }),
  host('b2', { labels: { rack: 'r2' } }),
];

function perRack(placements: ReadonlyMap<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of placements.values()) {
    const rack = h.startsWith('a') ? 'r1' : 'r2';
    out[rack] = (out[rack] ?? 0) + 1;
  }
  return out;
}

describe('even across values (scoring)', () => {
  test('a job of 4 spread over rack on 4 hosts in 2 racks lands 2 per rack', () => {
    for (const scoring of ['spread', 'binpack'] as const) {
      const r = allocate({
        hosts: racks,
        seed: 7,
        tasks: asks('web', 4, { placement: placement({ spread: [{ attribute: 'rack' }] }) }),
        options: { scoring },
      });
      assert.deepEqual(perRack(r.placements), { r1: 2, r2: 2 }, scoring);
    }
  });

  test("the job's existing tasks count (per label when given, else from their hosts)", () => {
    const spread = placement({ spread: [{ attribute: 'rack' }] });
    const fromHosts = allocate({
      hosts: racks,
      seed: 1,
      tasks: asks('web', 2, { placement: spread, existing: { perHost: new Map([['a1', 2]]) } }),
    });
    assert.deepEqual(perRack(fromHosts.placements), { r2: 2 });
    const fromLabels = allocate({
      hosts: racks,
      seed: 1,
      tasks: asks('web', 2, {
        placement: spread,
        existing: { perHost: new Map(), perLabel: new Map([['rack', new Map([['r2', 3]])]]) },
      }),
    });
    assert.deepEqual(perRack(fromLabels.placements), { r1: 2 });
  });

  test('hosts without the attribute come last', () => {
    const r = allocate({
      hosts: [host('bare', { cpu: 64 }), host('r', { cpu: 1, labels: { rack: 'r1' } })],
      seed: 1,
      tasks: asks('web', 2, { placement: placement({ spread: [{ attribute: 'rack' }] }) }),
    });
    assert.deepEqual(Object.fromEntries(r.placements), { 'web-1': 'r', 'web-2': 'bare' });
  });

  test('rules rank in order: the first attribute wins over the second', () => {
    const hosts = [
      host('z1a', { labels: { zone: 'z1', rack: 'a' } }),
      host('z1b', { labels: { zone: 'z1', rack: 'b' } }),
      host('z2a', { labels: { zone: 'z2', rack: 'a' } }),
    ];
    const r = allocate({
      hosts,
      seed: 1,
      tasks: asks('web', 3, {
        placement: placement({ spread: [{ attribute: 'zone' }, { attribute: 'rack' }] }),
      }),
    });
    // z1a (ties broken by id), then z2a (the other zone, though rack a is used), then z1b
    assert.deepEqual(Object.fromEntries(r.placements), { 'web-1': 'z1a', 'web-2': 'z2a', 'web-3': 'z1b' });
  });
});

describe('min (filter)', () => {
  test('at least min distinct values, even when scoring would pack', () => {
    const hosts = [
      host('a1', { cpu: 64, labels: { rack: 'r1' } }),
      host('b1', { cpu: 2, labels: { rack: 'r2' } }),
      host('c1', { cpu: 2, labels: { rack: 'r3' } }),
    ];
    const r = allocate({
      hosts,
      seed: 1,
      tasks: asks('web', 4, { placement: placement({ spread: [{ attribute: 'rack', min: 3 }] }) }),
      options: { scoring: 'binpack' },
    });
    const used = new Set(r.placements.values());
    assert.equal(r.placements.size, 4);
    assert.deepEqual([...used].sort(), ['a1', 'b1', 'c1']);
  });

  test('while min is not reached, hosts without the attribute or on a used value are rejected', () => {
    const hosts = [
      host('a1', { labels: { rack: 'r1' } }),
      host('a2', { labels: { rack: 'r1' } }),
      host('bare'),
    ];
    const r = allocate({
      hosts,
      seed: 1,
      tasks: asks('web', 3, { placement: placement({ spread: [{ attribute: 'rack', min: 2 }] }) }),
    });
    assert.equal(r.placements.get('web-1'), 'a1');
    assert.equal(r.placements.size, 1);
    const e = r.failures.get('web-2');
    assert.ok(e);
    assert.equal(r.failures.get('web-3')?.summary, e.summary, 'the class fails the same way');
    assert.equal(r.failures.get('web-3')?.task, 'web-3');
    assert.deepEqual(e.filters.at(-1), {
      filter: 'spread',
      rejected: 3,
      reasons: [
        { reason: 'on a used rack (spread min 2)', hosts: 2, examples: ['a1', 'a2'] },
        { reason: 'without rack (spread min 2)', hosts: 1, examples: ['bare'] },
      ],
    });
    assert.deepEqual(e.suggestions, [
      'spread over rack needs 2 distinct values and web covers 1 (r1); the 3 hosts that would fit (a1, a2, bare) add none: add capacity with another rack or lower min',
    ]);
  });

  test('min counts existing tasks', () => {
    const r = allocate({
      hosts: racks,
      seed: 1,
      tasks: asks('web', 1, {
        placement: placement({ spread: [{ attribute: 'rack', min: 2 }] }),
        existing: { perHost: new Map([['b1', 1]]) },
      }),
      options: { scoring: 'binpack' },
    });
    assert.ok(['a1', 'a2'].includes(r.placements.get('web-1') ?? ''));
  });
});

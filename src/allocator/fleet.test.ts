import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { HostView } from '../model/index.ts';
import { Allocator } from './allocator.ts';
import { Fleet } from './fleet.ts';
import { asks, host, placement } from './test-fixtures.ts';

function hosts(n: number): HostView[] {
  return Array.from({ length: n }, (_, i) =>
    host(`h${i}`, { cpu: 4, labels: { rack: `r${i % 3}` }, allocated: { cpu: i % 4 } }),
  );
}

/** What an allocator sees of a fleet: hosts and free capacity per index. */
function snapshot(f: Fleet): unknown {
  return {
    ids: f.hosts.map((h) => h.id),
    states: f.hosts.map((h) => h.state),
    rack: [...f.column('rack')],
    cpu: [...f.freeCpu],
    memory: [...f.freeMemory],
    pids: [...f.freePids],
  };
}

describe('fleet', () => {
  test('a fork has its own capacity and ports; the fleet it came from is unchanged', () => {
    const base = new Fleet(hosts(4));
    const before = snapshot(base);
    const fork = base.fork();
    fork.consume(1, { cpu: 1, memoryBytes: 5, pids: 1 });
    fork.usePorts(2, [80]);
    assert.equal(fork.freeCpu[1], 2);
    assert.equal(fork.portInUse(2, 80), true);
    assert.deepEqual(snapshot(base), before);
    assert.equal(base.portInUse(2, 80), false);
  });

  test('setHost takes a new view in place: capacity, state and labels, as a fresh index would', () => {
    const views = hosts(5);
    const kept = new Fleet(views);
    assert.deepEqual(kept.column('rack'), ['r0', 'r1', 'r2', 'r0', 'r1']);
    const changed = [...views];
    changed[1] = { ...views[1]!, allocated: { cpu: 3.5, memoryBytes: 1, pids: 2 } };
    changed[3] = { ...views[3]!, state: 'draining', labels: { rack: 'r9' } };
    assert.equal(kept.setHost(changed[1]), true);
    assert.equal(kept.setHost(changed[3]), true);
    assert.deepEqual(snapshot(kept), snapshot(new Fleet(changed)));
    assert.equal(kept.get('h3')?.state, 'draining');
    assert.equal(kept.setHost(host('h-new')), false, 'an unknown host needs a new index');
  });

  test('an allocator on a kept fleet places exactly as one that indexes the hosts itself', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ cpu: fc.integer({ min: 1, max: 8 }), used: fc.integer({ min: 0, max: 8 }) }), {
          minLength: 1,
          maxLength: 40,
        }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer(),
        (specs, count, seed) => {
          const views = specs.map((s, i) =>
            host(`h${String(i).padStart(2, '0')}`, {
              cpu: s.cpu,
              labels: { rack: `r${i % 4}` },
              allocated: { cpu: Math.min(s.used, s.cpu) },
            }),
          );
          const tasks = asks('web', count, {
            cpu: 1,
            placement: placement({ spread: [{ attribute: 'rack' }] }),
          });
          const kept = new Fleet(views);
          const run = (a: Allocator): unknown => tasks.map((t) => a.place(t));
          const own = run(new Allocator({ hosts: views, seed }));
          assert.deepEqual(run(new Allocator({ hosts: views, seed, fleet: kept })), own);
          // The kept fleet is untouched: a second allocation on it decides the same again.
          assert.deepEqual(run(new Allocator({ hosts: views, seed, fleet: kept })), own);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('after hosts change (capacity, state, labels), a kept fleet still places as a fresh one', () => {
    const change = fc.record({
      host: fc.nat(),
      used: fc.integer({ min: 0, max: 8 }),
      state: fc.constantFrom('ready' as const, 'cordoned' as const, 'draining' as const, 'down' as const),
      rack: fc.constantFrom('r0', 'r1', 'r2', 'r7'),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.array(change, { maxLength: 5 }), { minLength: 1, maxLength: 4 }),
        fc.integer(),
        (n, rounds, seed) => {
          const views = Array.from({ length: n }, (_, i) =>
            host(`h${String(i).padStart(2, '0')}`, { cpu: 8, labels: { rack: `r${i % 3}` } }),
          );
          const kept = new Fleet(views);
          const tasks = asks('db', 12, {
            cpu: 2,
            placement: placement({
              constraints: [{ attribute: 'rack', in: ['r0', 'r1', 'r7'] }],
              spread: [{ attribute: 'rack' }],
            }),
          });
          const run = (a: Allocator): unknown => tasks.map((t) => a.place(t));
          for (const round of rounds) {
            for (const c of round) {
              const i = c.host % n;
              views[i] = {
                ...views[i]!,
                state: c.state,
                labels: { rack: c.rack },
                allocated: { cpu: c.used, memoryBytes: 0, pids: 0 },
              };
              assert.equal(kept.setHost(views[i]), true);
            }
            const fresh = run(new Allocator({ hosts: views, seed }));
            assert.deepEqual(run(new Allocator({ hosts: views, seed, fleet: kept })), fresh);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

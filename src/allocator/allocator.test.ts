import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, Allocator, DEFAULT_FILTERS, type FilterPlugin, type PlacementAsk } from './index.ts';
import { seededRng } from './rng.ts';
import { asks, byTask, host, perHost, placement } from './test-fixtures.ts';

function fleet(n: number, seed = 42): ReturnType<typeof host>[] {
  const rng = seededRng(seed);
  return Array.from({ length: n }, (_, i) =>
    host(`h${String(i).padStart(5, '0')}`, {
      cpu: [4, 8, 16][Math.floor(rng() * 3)] ?? 8,
      labels: { rack: `r${i % 20}`, zone: `z${i % 3}` },
    }),
  );
}

function mixedTasks(): PlacementAsk[] {
  return [
    ...asks('web', 300, { cpu: 0.5, placement: placement({ spread: [{ attribute: 'zone', min: 3 }] }) }),
    ...asks('db', 20, {
      cpu: 2,
      distinctHosts: true,
      placement: placement({ constraints: [{ attribute: 'zone', equals: 'z1' }] }),
    }),
    ...asks('huge', 3, { cpu: 100 }),
    ...asks('batch', 200, { cpu: 0.25 }),
  ];
}

describe('determinism', () => {
  test('same hosts, tasks and seed: same placements and explanations', () => {
    const hosts = fleet(2000);
    const run = (): unknown => {
      const r = allocate({ hosts, seed: 99, tasks: mixedTasks() });
      return [byTask(r.placements), Object.fromEntries(r.failures)];
    };
    assert.deepEqual(run(), run());
  });

  test('large fleets are sampled: another seed gives other hosts, the same number placed', () => {
    const hosts = fleet(2000);
    const a = allocate({ hosts, seed: 1, tasks: mixedTasks() });
    const b = allocate({ hosts, seed: 2, tasks: mixedTasks() });
    assert.notDeepEqual(byTask(a.placements), byTask(b.placements));
    assert.equal(a.placements.size, b.placements.size);
    assert.deepEqual([...a.failures.keys()], [...b.failures.keys()]);
  });

  test('small fleets are scored in full: the seed does not matter', () => {
    const hosts = fleet(20);
    const results = [1, 2, 3, 4].map((seed) =>
      byTask(allocate({ hosts, seed, tasks: asks('web', 30) }).placements),
    );
    for (const r of results) assert.deepEqual(r, results[0]);
  });

  test('host order in the request does not matter', () => {
    const hosts = fleet(300);
    const a = allocate({ hosts, seed: 5, tasks: mixedTasks() });
    const b = allocate({ hosts: [...hosts].reverse(), seed: 5, tasks: mixedTasks() });
    assert.deepEqual(byTask(a.placements), byTask(b.placements));
  });
});

describe('sampling', () => {
  test('a feasible host is always found, however small the sample', () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => host(`h${i}`, { cpu: i === 637 ? 4 : 0.5 }));
    const r = allocate({ hosts, seed: 3, tasks: asks('j', 5, { cpu: 1 }), options: { sampleSize: 2 } });
    assert.deepEqual(perHost(r.placements), { h637: 4 });
    assert.equal(r.failures.get('j-5')?.filters.at(-1)?.rejected, 1000);
  });

  test('sampleSize Infinity scores every feasible host (exact spread over 50 hosts)', () => {
    const hosts = fleet(50);
    const r = allocate({
      hosts,
      seed: 3,
      tasks: asks('j', 50, { cpu: 0.1 }),
      options: { sampleSize: Infinity },
    });
    assert.equal(Object.keys(perHost(r.placements)).length, 50);
  });
});

describe('equivalence classes and caches', () => {
  test('static filters run once per host per static key, shared by classes', () => {
    let calls = 0;
    const counting: FilterPlugin = {
      name: 'counting',
      stage: 'static',
      key: () => 'same',
      forClass: () => ({
        test: () => {
          calls++;
          return true;
        },
        explain: () => ({ reason: 'never' }),
      }),
    };
    const a = new Allocator({ hosts: fleet(100), seed: 1, filters: [counting, ...DEFAULT_FILTERS] });
    for (const ask of [...asks('x', 50), ...asks('y', 50, { cpu: 2 })]) a.place(ask);
    assert.equal(calls, 100);
  });

  test('hosts a monotone filter rejects are dropped from the class for good', () => {
    let calls = 0;
    const full: FilterPlugin = {
      name: 'full',
      stage: 'monotone',
      forClass: () => ({
        test: (h) => {
          calls++;
          return h === 0;
        },
        explain: () => ({ reason: 'full' }),
      }),
    };
    const a = new Allocator({ hosts: fleet(1000), seed: 1, filters: [full], options: { sampleSize: 1 } });
    for (const ask of asks('x', 100, { cpu: 0 })) assert.equal(a.place(ask).host, 'h00000');
    // Each rejected host once, then host 0 once or twice per task (sampled scan).
    assert.ok(calls < 999 + 2 * 100 + 10, `${calls} filter calls`);
  });

  test('a class that fits nowhere is explained once; each task gets its own id', () => {
    const r = allocate({ hosts: fleet(200), seed: 1, tasks: asks('huge', 1000, { cpu: 100 }) });
    assert.equal(r.failures.size, 1000);
    const one = r.failures.get('huge-1');
    const last = r.failures.get('huge-1000');
    assert.equal(last?.task, 'huge-1000');
    assert.equal(one?.task, 'huge-1');
    assert.equal(last?.filters, one?.filters, 'shared, not recomputed');
  });

  test('the incremental API places like the batch one', () => {
    const hosts = fleet(500);
    const tasks = mixedTasks();
    const a = new Allocator({ hosts, seed: 11 });
    const one = new Map<string, string>();
    for (const t of tasks) {
      const r = a.place(t);
      if (r.host !== null) one.set(t.task, r.host);
    }
    assert.deepEqual(byTask(one), byTask(allocate({ hosts, seed: 11, tasks }).placements));
  });
});

describe('input edge cases', () => {
  test('existing tasks on hosts not in the request are ignored; duplicate host ids: the first wins', () => {
    const r = allocate({
      hosts: [host('a', { cpu: 1 }), host('a', { cpu: 64 }), host('b', { cpu: 1 })],
      seed: 1,
      tasks: asks('web', 3, { existing: { perHost: new Map([['gone', 5]]) } }),
    });
    assert.deepEqual(perHost(r.placements), { a: 1, b: 1 });
    assert.equal(r.failures.get('web-3')?.hosts, 2);
  });

  test('zero hosts', () => {
    const r = allocate({ hosts: [], seed: 1, tasks: asks('web', 2) });
    assert.equal(
      r.failures.get('web-2')?.summary,
      'no host fits cpu 1, memory 64Mi, pids 10: no hosts registered',
    );
  });
});

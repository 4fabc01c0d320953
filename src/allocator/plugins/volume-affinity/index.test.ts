import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, Allocator } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

test('a task with a volume host goes there, even where the others score better', () => {
  // b is emptier (utilization would pick it) and a already runs the job's tasks.
  const hosts = [host('a', { cpu: 2 }), host('b', { cpu: 64 }), host('c', { cpu: 64 })];
  const r = allocate({ hosts, seed: 7, tasks: asks('db', 2, { volumeHost: 'a' }) });
  assert.deepEqual(perHost(r.placements), { a: 2 });
});

test('asks without a volume host are unaffected, in the same allocation', () => {
  const a = new Allocator({ hosts: [host('a', { cpu: 1 }), host('b', { cpu: 1 })], seed: 3 });
  const [pinned] = asks('db', 1, { volumeHost: 'b' });
  const [plain] = asks('db', 1);
  assert.deepEqual(a.place({ ...pinned!, task: 'x' }), { host: 'b' });
  assert.deepEqual(a.place({ ...plain!, task: 'y' }), { host: 'a' });
  // b is full now: the pinned task waits rather than going to a.
  assert.equal(a.place({ ...pinned!, task: 'z' }).host, null);
});

test('when the volume host cannot take the task, it is not placed and the explanation says why', () => {
  const hosts = [host('a', { state: 'cordoned' }), host('b'), host('c')];
  const r = allocate({ hosts, seed: 1, tasks: asks('db', 1, { volumeHost: 'a' }) });
  const e = r.failures.get('db-1');
  assert.ok(e);
  assert.equal(r.placements.size, 0);
  assert.deepEqual(
    e.filters.filter((f) => f.rejected > 0).map((f) => [f.filter, f.rejected, f.reasons[0]?.reason]),
    [
      ['host-state', 1, 'cordoned'],
      ['volume-affinity', 2, "not a, which holds the task's volumes"],
    ],
  );
  assert.match(e.summary, /2 not a, which holds the task's volumes/);
});

test('a volume host that is not known places the task nowhere', () => {
  const r = allocate({ hosts: [host('a')], seed: 1, tasks: asks('db', 1, { volumeHost: 'gone' }) });
  const e = r.failures.get('db-1');
  assert.ok(e);
  assert.ok(
    e.suggestions.some((s) => s.includes('gone')),
    e.suggestions.join('; '),
  );
});

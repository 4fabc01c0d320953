import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocate, Allocator } from '../../index.ts';
import { asks, host, perHost } from '../../test-fixtures.ts';

test('avoided hosts take no task; the others do', () => {
  const hosts = [host('a'), host('b'), host('c')];
  const r = allocate({ hosts, seed: 1, tasks: asks('web', 4, { avoidHosts: ['a', 'c'] }) });
  assert.deepEqual(perHost(r.placements), { b: 4 });
});

test('asks without avoidHosts are unaffected, in the same allocation', () => {
  const a = new Allocator({ hosts: [host('a', { cpu: 2 }), host('b', { cpu: 1 })], seed: 3 });
  const [avoiding] = asks('web', 1, { avoidHosts: ['a'] });
  const [plain] = asks('web', 1);
  assert.deepEqual(a.place({ ...avoiding!, task: 'x' }), { host: 'b' });
  // b is now full: a plain ask of the same job goes to a, an avoiding one fits nowhere
  assert.deepEqual(a.place({ ...plain!, task: 'y' }), { host: 'a' });
  const r = a.place({ ...avoiding!, task: 'z' });
  assert.equal(r.host, null);
});

test('when only avoided hosts would fit, the explanation says so', () => {
  const hosts = [host('a'), host('b', { state: 'draining' }), host('c', { cpu: 0.5 })];
  const r = allocate({ hosts, seed: 1, tasks: asks('web', 1, { avoidHosts: ['a', 'b'] }) });
  const e = r.failures.get('web-1');
  assert.ok(e);
  assert.deepEqual(
    e.filters.filter((f) => f.rejected > 0).map((f) => [f.filter, f.rejected, f.reasons[0]?.reason]),
    [
      ['host-state', 1, 'draining'],
      ['avoid-hosts', 1, 'avoided for this task'],
      ['resources-fit', 1, 'too little cpu'],
    ],
  );
  assert.ok(
    e.suggestions.includes('1 host would fit but is avoided for this task (a)'),
    e.suggestions.join('; '),
  );
  assert.match(e.summary, /1 avoided for this task/);
});

test('unknown host ids in avoidHosts are ignored', () => {
  const r = allocate({ hosts: [host('a')], seed: 1, tasks: asks('web', 1, { avoidHosts: ['zz'] }) });
  assert.equal(r.placements.get('web-1'), 'a');
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Fleet } from '../allocator/index.ts';
import {
  encodeTaskRecord,
  keys,
  type HostRecord,
  type JobSpec,
  type JobVersionRecord,
  type Task,
  type TaskRecord,
} from '../model/index.ts';
import { StateCache } from './state-cache.ts';

const HOSTS = ['a', 'b', 'c', 'd'];

function hostRecord(
  id: string,
  cpu: number,
  schedulable: HostRecord['schedulable'],
  rack: string,
): HostRecord {
  return {
    id,
    labels: { rack },
    capacity: { cpu, memoryBytes: 1 << 30, pids: 1000 },
    schedulable,
    runtime: 'process',
    registeredAt: 0,
    lease: 1,
  };
}

function task(id: string, host: string | null, cpu: number): Task {
  return {
    id,
    job: 'web',
    version: 1,
    host,
    desired: 'run',
    createdAt: 0,
    spec: {
      image: 'x',
      command: ['x'],
      env: {},
      resources: { cpu, memoryBytes: 1 << 20, pids: 1 },
      ports: [],
      health: {},
      restart: { policy: 'always', initialBackoffMs: 1, maxBackoffMs: 1 },
      stopGracePeriodMs: 0,
    },
  };
}

/** Applies puts to the cache as a watch would deliver them, one revision each. */
function feeder(cache: StateCache): (key: string, value: unknown) => void {
  let rev = 0;
  return (key, value) => {
    rev++;
    cache.apply(key, {
      key,
      value: JSON.stringify(value),
      createRevision: rev,
      modRevision: rev,
      version: 1,
      lease: 0,
    });
  };
}

const event = fc.oneof(
  fc.record({
    kind: fc.constant('host' as const),
    id: fc.constantFrom(...HOSTS),
    cpu: fc.integer({ min: 1, max: 16 }),
    state: fc.constantFrom('ready' as const, 'cordoned' as const, 'draining' as const),
    rack: fc.constantFrom('r1', 'r2'),
    remove: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('alive' as const), id: fc.constantFrom(...HOSTS), up: fc.boolean() }),
  fc.record({
    kind: fc.constant('task' as const),
    id: fc.constantFrom('t1', 't2', 't3', 't4', 't5'),
    host: fc.constantFrom(null, ...HOSTS, 'unknown'),
    cpu: fc.integer({ min: 0, max: 4 }),
    remove: fc.boolean(),
  }),
);

test('the kept fleet always equals a fresh index of the host views, whatever the events', () => {
  fc.assert(
    fc.property(fc.array(fc.array(event, { maxLength: 6 }), { maxLength: 12 }), (batches) => {
      const cache = new StateCache();
      const put = feeder(cache);
      for (const batch of batches) {
        for (const e of batch) {
          if (e.kind === 'host') {
            if (e.remove) cache.apply(keys.host(e.id), undefined);
            else put(keys.host(e.id), hostRecord(e.id, e.cpu, e.state, e.rack));
          } else if (e.kind === 'alive') {
            if (e.up) put(keys.alive(e.id), { id: e.id });
            else cache.apply(keys.alive(e.id), undefined);
          } else if (e.remove) {
            cache.apply(keys.task('web', e.id), undefined);
          } else {
            put(keys.task('web', e.id), task(e.id, e.host, e.cpu));
          }
        }
        // Looked at after each batch, as the scheduler does between passes.
        // The views' allocation (kept task by task) equals a count from the tasks themselves.
        for (const v of cache.hostViews()) {
          const on = [...cache.tasks.values()].flatMap((m) =>
            [...m.values()].filter((e) => e.value.host === v.id).map((e) => e.value.spec.resources),
          );
          assert.equal(v.tasks, on.length, `tasks on ${v.id}`);
          assert.equal(
            v.allocated.cpu,
            on.reduce((a, r) => a + r.cpu, 0),
            `cpu on ${v.id}`,
          );
          assert.equal(
            v.allocated.memoryBytes,
            on.reduce((a, r) => a + r.memoryBytes, 0),
          );
          assert.equal(
            v.allocated.pids,
            on.reduce((a, r) => a + r.pids, 0),
          );
        }
        const kept = cache.fleet();
        const fresh = new Fleet(cache.hostViews());
        assert.deepEqual(kept.hosts, fresh.hosts);
        assert.deepEqual([...kept.freeCpu], [...fresh.freeCpu]);
        assert.deepEqual([...kept.freePids], [...fresh.freePids]);
        assert.deepEqual([...kept.freeMemory], [...fresh.freeMemory]);
        assert.deepEqual(kept.column('rack'), fresh.column('rack'));
      }
    }),
    { numRuns: 300 },
  );
});

test('a reservation counts in the fleet until the task is seen, or until it is given back', () => {
  const cache = new StateCache();
  const put = feeder(cache);
  put(keys.host('a'), hostRecord('a', 4, 'ready', 'r1'));
  put(keys.alive('a'), { id: 'a' });
  const free = (): number => cache.fleet().freeCpu[cache.fleet().index.get('a') ?? -1] ?? NaN;
  assert.equal(free(), 4);

  const t1 = task('t1', 'a', 1);
  const t2 = task('t2', 'a', 2);
  cache.reserve([t1, t2]);
  assert.equal(free(), 1, 'reserved while the writes are on the way');
  assert.equal(cache.reservations, 2);

  put(keys.task('web', 't1'), t1);
  assert.equal(free(), 1, 'seen: counted once, by the host view');
  assert.equal(cache.reservations, 1);

  // Another change on the host meanwhile does not lose the reservation still on the way.
  put(keys.host('a'), hostRecord('a', 4, 'ready', 'r2'));
  assert.equal(free(), 1);

  cache.unreserve([t1, t2]);
  assert.equal(free(), 3, 't2 was never written: its capacity is free again');
  assert.equal(cache.reservations, 0);
});

test('a value this process wrote is taken as its object; anything else is parsed', () => {
  const cache = new StateCache();
  const mine = task('t1', 'a', 1);
  const value = JSON.stringify(mine);
  cache.expect([{ key: keys.task('web', 't1'), value, object: mine }]);
  cache.apply(keys.task('web', 't1'), {
    key: keys.task('web', 't1'),
    value,
    createRevision: 1,
    modRevision: 1,
    version: 1,
    lease: 0,
  });
  assert.equal(cache.tasks.get('web')?.get('t1')?.value, mine, 'the same object, not parsed again');

  // Someone else's value for an expected key (or an expectation already used) is parsed.
  const other = { ...mine, desired: 'stop' as const };
  cache.expect([{ key: keys.task('web', 't1'), value, object: mine }]);
  cache.apply(keys.task('web', 't1'), {
    key: keys.task('web', 't1'),
    value: JSON.stringify(other),
    createRevision: 1,
    modRevision: 2,
    version: 2,
    lease: 0,
  });
  const seen = cache.tasks.get('web')?.get('t1')?.value;
  assert.notEqual(seen, mine);
  assert.deepEqual(seen, other);
});

test('a task record that refers to its version spec is read with that spec', () => {
  const cache = new StateCache();
  let rev = 0;
  const put = (key: string, value: string): void => {
    rev++;
    cache.apply(key, { key, value, createRevision: rev, modRevision: rev, version: 1, lease: 0 });
  };
  const t1 = task('t1', 'a', 1);
  const version: JobVersionRecord = { name: 'web', version: 1, createdAt: 7, spec: specOf(t1) };
  put(keys.jobVersion('web', 1), JSON.stringify(version));
  const stored = encodeTaskRecord(t1, version);
  assert.equal((JSON.parse(stored) as TaskRecord).spec, undefined, 'stored without the spec');
  put(keys.task('web', 't1'), stored);
  const seen = cache.tasks.get('web')?.get('t1')?.value;
  assert.deepEqual(seen, t1, 'the same task, spec included');
  assert.equal(seen?.spec, cache.versions.get('web')?.get(1)?.spec.task, "the version's spec object, shared");
  assert.equal('specAt' in (seen ?? {}), false);
  // Its resources count on its host like any task's.
  put(keys.host('a'), JSON.stringify(hostRecord('a', 4, 'ready', 'r1')));
  put(keys.alive('a'), JSON.stringify({ id: 'a' }));
  assert.equal(cache.hostViews().find((h) => h.id === 'a')?.allocated.cpu, 1);
});

function specOf(t: Task): JobSpec {
  const job = { name: 'web', replicas: 1, task: t.spec } as unknown as JobSpec;
  return job;
}

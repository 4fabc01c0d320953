/**
 * Volumes in placement: slots, the way back to the host that holds a slot's volumes, fresh volumes
 * when that host is gone (said loudly), played in the simulator (pure).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { JobSpec, Task } from '../model/index.ts';
import { Gi, jobSpec, simHost } from './fixtures.ts';
import { Simulator } from './simulator.ts';

const NUM_RUNS = Number(process.env['DABBA_PROPERTY_RUNS'] ?? 100);

function withVolumes(spec: JobSpec): JobSpec {
  return { ...spec, task: { ...spec.task, volumes: [{ name: 'data', mount: '/data', sizeBytes: Gi }] } };
}

function running(sim: Simulator): Task[] {
  return sim.jobTasks().filter((t) => t.desired === 'run');
}

/** Every placed task of the job is on the host its slot's record names. */
function assertOnVolumeHosts(sim: Simulator): void {
  for (const t of sim.jobTasks()) {
    if (t.host === null) continue;
    assert.ok(t.slot !== undefined, `task ${t.id} has no slot`);
    assert.equal(
      sim.volumes.get(t.slot)?.host,
      t.host,
      `task ${t.id} (slot ${t.slot}) off its volumes' host`,
    );
  }
}

test('tasks of a job with volumes get slots 0..n-1 and a record of where their volumes are', () => {
  const spec = withVolumes(jobSpec({ name: 'db', replicas: 3 }));
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2'), simHost('h3')] });
  assert.ok(sim.run(20).settled);
  assert.deepEqual(
    running(sim)
      .map((t) => t.slot)
      .sort(),
    [0, 1, 2],
  );
  assert.equal(sim.volumes.size, 3);
  assertOnVolumeHosts(sim);
  for (const r of sim.volumes.values()) assert.deepEqual(r.names, ['data']);
  // Tasks of jobs without volumes have no slot.
  const plain = new Simulator({ spec: jobSpec({ replicas: 2 }), hosts: [simHost('h1')] });
  assert.ok(plain.run(20).settled);
  assert.ok(plain.jobTasks().every((t) => t.slot === undefined));
  assert.equal(plain.volumes.size, 0);
});

test('an update replaces every task on the host of its slot: records stay as they were', () => {
  const spec = withVolumes(jobSpec({ name: 'db', replicas: 3, update: { maxSurge: 1, maxUnavailable: 1 } }));
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2'), simHost('h3'), simHost('h4')] });
  assert.ok(sim.run(20).settled);
  const before = new Map([...sim.volumes].map(([slot, r]) => [slot, r.host]));
  const first = new Set(running(sim).map((t) => t.id));
  sim.deploy({ ...spec, task: { ...spec.task, command: ['serve', '--v2'] } });
  assert.ok(sim.run(40, () => assertOnVolumeHosts(sim)).settled);
  const after = running(sim);
  assert.equal(after.length, 3);
  assert.ok(after.every((t) => !first.has(t.id) && t.version === 2));
  assert.deepEqual(after.map((t) => t.slot).sort(), [0, 1, 2]);
  assert.deepEqual(new Map([...sim.volumes].map(([slot, r]) => [slot, r.host])), before);
  assert.ok(!sim.events.some((e) => e.kind === 'volume.fresh'));
});

test('a lost task waits for a cordoned volume host, and goes back there when it is ready again', () => {
  const spec = withVolumes(jobSpec({ name: 'db', replicas: 1 }));
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2')] });
  assert.ok(sim.run(20).settled);
  const [task] = running(sim);
  assert.ok(task?.host);
  const home = task.host;
  // Its task is stopped by hand (a restart of the job), and its host cordoned meanwhile.
  sim.hosts.set(home, { ...sim.hosts.get(home)!, state: 'cordoned' });
  sim.deploy({ ...spec, task: { ...spec.task, command: ['serve', '--v2'] } });
  for (let i = 0; i < 10; i++) sim.step(i);
  const waiting = running(sim).find((t) => t.version === 2);
  assert.ok(waiting, 'the replacement exists');
  assert.equal(waiting.host, null, 'and waits unplaced rather than going to the other host');
  assert.match(waiting.unplaced ?? '', new RegExp(`not ${home}, which holds the task's volumes`));
  sim.hosts.set(home, { ...sim.hosts.get(home)!, state: 'ready' });
  assert.ok(sim.run(20).settled);
  const back = running(sim);
  assert.deepEqual(
    back.map((t) => [t.version, t.host, t.slot]),
    [[2, home, 0]],
  );
});

test('a task whose volume host is down waits for it, and goes back there when it returns', () => {
  const spec = withVolumes(jobSpec({ name: 'db', replicas: 1 }));
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2')] });
  assert.ok(sim.run(20).settled);
  const [first] = running(sim);
  assert.ok(first?.host);
  const home = first.host;
  sim.hosts.set(home, { ...sim.hosts.get(home)!, state: 'down' });
  for (let i = 0; i < 30; i++) sim.step(i); // 30 s, well within the default wait of 5 minutes
  const waiting = running(sim);
  assert.equal(waiting.length, 1);
  assert.notEqual(waiting[0]?.id, first.id, 'the lost task was replaced...');
  assert.equal(waiting[0]?.host, null, '...by one that waits for its host');
  assert.equal(typeof sim.volumes.get(0)?.hostDownSince, 'number');
  assert.equal(sim.events.filter((e) => e.kind === 'volume.waiting').length, 1);
  sim.hosts.set(home, { ...sim.hosts.get(home)!, state: 'ready' });
  assert.ok(sim.run(20).settled);
  assert.deepEqual(
    running(sim).map((t) => [t.host, t.slot]),
    [[home, 0]],
  );
  assert.equal(sim.volumes.get(0)?.host, home);
  assert.equal(sim.volumes.get(0)?.hostDownSince, undefined, 'the wait is over');
  assert.ok(!sim.events.some((e) => e.kind === 'volume.fresh'));
});

test('past placement.volumeWait, the task gets fresh volumes on another host', () => {
  const base = withVolumes(jobSpec({ name: 'db', replicas: 1 }));
  const spec = { ...base, placement: { ...base.placement, volumeWaitMs: 10_000 } };
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2')] });
  assert.ok(sim.run(20).settled);
  const home = running(sim)[0]?.host;
  assert.ok(home);
  sim.hosts.set(home, { ...sim.hosts.get(home)!, state: 'down' });
  for (let i = 0; i < 5; i++) sim.step(i);
  assert.equal(running(sim)[0]?.host, null, 'waits within volumeWait');
  const r = sim.run(30);
  assert.ok(r.settled);
  const [moved] = running(sim);
  assert.ok(moved?.host !== undefined && moved.host !== null && moved.host !== home);
  assert.match(moved.freshVolumes ?? '', /down for longer than placement\.volumeWait/);
  assert.equal(sim.events.filter((e) => e.kind === 'volume.fresh').length, 1);
});

test('with volumeWait 0, the replacement of a task on a down host gets fresh volumes at once, loudly', () => {
  const base = withVolumes(jobSpec({ name: 'db', replicas: 2 }));
  const spec = { ...base, placement: { ...base.placement, volumeWaitMs: 0 } };
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2'), simHost('h3')] });
  assert.ok(sim.run(20).settled);
  const victim = running(sim)[0];
  assert.ok(victim?.host !== undefined && victim.host !== null && victim.slot !== undefined);
  const dead = victim.host;
  sim.hosts.set(dead, { ...sim.hosts.get(dead)!, state: 'down' });
  sim.run(20);
  const replacement = running(sim).find((t) => t.slot === victim.slot && t.id !== victim.id);
  assert.ok(replacement?.host, 'a replacement of the same slot is placed');
  assert.notEqual(replacement.host, dead);
  assert.equal(sim.volumes.get(victim.slot)?.host, replacement.host);
  assert.deepEqual(sim.volumes.get(victim.slot)?.replaced, { host: dead, why: `host ${dead} is down` });
  assert.match(
    replacement.freshVolumes ?? '',
    new RegExp(`fresh volumes on ${replacement.host}: host ${dead} is down`),
  );
  const fresh = sim.events.filter((e) => e.kind === 'volume.fresh');
  assert.equal(fresh.length, 1);
  assert.match(fresh[0]?.message ?? '', new RegExp(`slot ${victim.slot} of db gets fresh volumes`));
  assertOnVolumeHosts(sim);
});

test('a crash-looping task with volumes keeps restarting in place: it is not rescheduled away', () => {
  const spec = withVolumes(jobSpec({ name: 'db', replicas: 1 }));
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2')] });
  assert.ok(sim.run(20).settled);
  const [t] = running(sim);
  assert.ok(t?.host);
  for (let i = 0; i < 10; i++) {
    sim.setStatus(t.id, { state: 'failed', healthy: false, restarts: 10 + i, nextRestartAt: sim.now + 1000 });
    sim.apply(sim.reconcile());
    sim.now += 1000;
  }
  assert.deepEqual(
    running(sim).map((x) => [x.id, x.host]),
    [[t.id, t.host]],
  );
  assert.ok(!sim.events.some((e) => e.kind === 'task.rescheduled'));
});

test('property: tasks are only ever placed on their slot volumes host, slots of current tasks are unique, and volumes move only off a host that is down or gone', () => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('deploy' as const), v: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('scale' as const), n: fc.integer({ min: 0, max: 5 }) }),
    fc.record({
      kind: fc.constant('host' as const),
      host: fc.constantFrom('h1', 'h2', 'h3', 'h4'),
      state: fc.constantFrom('ready' as const, 'cordoned' as const, 'down' as const),
    }),
    fc.record({ kind: fc.constant('steps' as const), n: fc.integer({ min: 1, max: 6 }) }),
  );
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 4 }),
      fc.integer({ min: 0, max: 2 }),
      fc.constantFrom(0, 3000, 300_000),
      fc.array(op, { maxLength: 12 }),
      (replicas, maxSurge, waitMs, ops) => {
        const base = withVolumes(jobSpec({ name: 'db', replicas, update: { maxSurge, maxUnavailable: 1 } }));
        let spec: JobSpec = { ...base, placement: { ...base.placement, volumeWaitMs: waitMs } };
        const sim = new Simulator({
          spec,
          hosts: ['h1', 'h2', 'h3', 'h4'].map((id) => simHost(id)),
        });
        const check = (): void => {
          assertOnVolumeHosts(sim);
          const slots = running(sim)
            .filter(
              (t) =>
                t.version === sim.job.version || JSON.stringify(t.spec) === JSON.stringify(sim.job.spec.task),
            )
            .map((t) => t.slot);
          assert.equal(
            new Set(slots).size,
            slots.length,
            `duplicate slots among current tasks: ${slots.join(',')}`,
          );
        };
        const stepOnce = (i: number): void => {
          const before = new Map([...sim.volumes].map(([s, r]) => [s, r.host]));
          const downSince = new Map([...sim.volumes].map(([s, r]) => [s, r.hostDownSince]));
          const states = new Map([...sim.hosts].map(([id, h]) => [id, h.state]));
          const s = sim.step(i);
          for (const r of s.plan.volumes ?? []) {
            const was = before.get(r.slot);
            if (was === undefined || was === r.host) continue;
            const st = states.get(was);
            assert.ok(
              st === undefined || st === 'down',
              `slot ${r.slot} moved off ${was} while it was ${st}`,
            );
            const since = downSince.get(r.slot);
            assert.ok(
              st === undefined || waitMs === 0 || (since !== undefined && s.now >= since + waitMs),
              `slot ${r.slot} moved off ${was} before volumeWait (${waitMs} ms) had passed`,
            );
          }
          check();
        };
        let i = 0;
        for (const o of ops) {
          if (o.kind === 'deploy') {
            spec = { ...spec, task: { ...spec.task, command: ['serve', `--v${o.v}`] } };
            sim.deploy(spec);
          } else if (o.kind === 'scale') {
            spec = { ...spec, replicas: o.n };
            sim.deploy(spec);
          } else if (o.kind === 'host') {
            const h = sim.hosts.get(o.host);
            if (h !== undefined) sim.hosts.set(o.host, { ...h, state: o.state });
          } else {
            for (let k = 0; k < o.n; k++) stepOnce(i++);
          }
        }
        for (let k = 0; k < 8; k++) stepOnce(i++);
      },
    ),
    { numRuns: NUM_RUNS },
  );
});

/** Draining hosts: unit tests of single passes, then scenarios played in the simulator. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, HostView, JobSpec, TaskView } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec, runningTask, simHost, task } from './fixtures.ts';
import { drainProgress, isEmptyPlan, reconcile, type ReconcileInput } from './index.ts';
import { Simulator, stepTogether, type StepRecord } from './simulator.ts';

const NOW = 1_000_000;

function succeeded(spec: JobSpec, version = 1): Deployment {
  return {
    job: spec.name,
    version,
    fromVersion: 0,
    state: 'succeeded',
    desired: spec.replicas,
    placed: spec.replicas,
    running: spec.replicas,
    healthy: spec.replicas,
    old: 0,
    message: '',
    startedAt: 0,
    updatedAt: 0,
    finishedAt: 0,
  };
}

function input(
  spec: JobSpec,
  tasks: TaskView[],
  hosts: HostView[],
  o: Partial<ReconcileInput> = {},
): ReconcileInput {
  return {
    job: jobRecord(spec),
    versions: [{ name: spec.name, version: 1, spec, createdAt: 0 }],
    tasks,
    hosts,
    deployment: succeeded(spec),
    now: NOW,
    newTaskId: ids(),
    ...o,
  };
}

const draining = (id: string, drainDeadline?: number): HostView => ({
  ...hostView(id, { state: 'draining' }),
  ...(drainDeadline === undefined ? {} : { drainDeadline }),
});

describe('one pass over a draining host', () => {
  const spec = jobSpec({ replicas: 3, update: { maxUnavailable: 1, maxSurge: 1 } });
  const tasks = [
    runningTask(spec, { id: 'a', host: 'h1', createdAt: 1 }),
    runningTask(spec, { id: 'b', host: 'h1', createdAt: 2 }),
    runningTask(spec, { id: 'c', host: 'h2', createdAt: 3 }),
  ];

  test('replacements are placed elsewhere first; a task is stopped only within the budget', () => {
    const plan = reconcile(input(spec, tasks, [draining('h1'), hostView('h2'), hostView('h3')]));
    // a's replacement is placed, then a stops (3 available -> 2 = replicas - maxUnavailable); b's
    // replacement is placed too (4 with desired run = replicas + maxSurge) but b must wait
    assert.deepEqual(
      plan.create.map((t) => [t.id, t.host, t.version]),
      [
        ['n0001', 'h3', 1],
        ['n0002', 'h2', 1],
      ],
    );
    assert.deepEqual(plan.stop, ['b']);
    assert.equal(plan.deployment, undefined, 'a finished deployment is history');
    const stopping = plan.events.find((e) => e.kind === 'task.stopping');
    assert.equal(
      stopping?.message,
      'stopping task b (v1) on h1: host h1 is draining (replaced by n0001 (v1) on h3)',
    );
    assert.ok(
      plan.events.some(
        (e) => e.kind === 'task.created' && e.message.endsWith('to replace b (v1) on draining host h1'),
      ),
    );
  });

  test('once the replacements are placed, the rest go as the budget allows', () => {
    const next = [
      tasks[0]!,
      tasks[2]!,
      runningTask(spec, { id: 'n1', host: 'h3', createdAt: 4 }, NOW),
      task(spec, { id: 'n2', host: 'h3', createdAt: 5 }),
    ];
    const plan = reconcile(input(spec, next, [draining('h1'), hostView('h2'), hostView('h3')]));
    assert.deepEqual(plan.create, [], 'no replacement beyond what is needed');
    assert.deepEqual(plan.stop, ['a'], '3 available (a, c, n1): one may go');
    assert.equal(plan.events.find((e) => e.kind === 'task.stopping')?.message.endsWith('(replaced)'), true);
  });

  test('maxUnavailable 0: the task stays until its replacement is available', () => {
    const strict = { ...spec, update: { ...spec.update, maxUnavailable: 0 } };
    const one = [runningTask(strict, { id: 'a', host: 'h1' }), runningTask(strict, { id: 'c', host: 'h2' })];
    const s2 = { ...strict, replicas: 2 };
    const hosts = [draining('h1'), hostView('h2')];
    const first = reconcile(input(s2, one, hosts));
    assert.equal(first.create.length, 1);
    assert.deepEqual(first.stop, []);
    const starting = task(s2, { id: 'r', host: 'h2', createdAt: 9 });
    const waiting = reconcile(input(s2, [...one, starting], hosts));
    assert.ok(isEmptyPlan(waiting), 'replacement placed but not available: wait');
    const ready = runningTask(s2, { id: 'r', host: 'h2', createdAt: 9 }, NOW);
    const done = reconcile(input(s2, [...one, ready], hosts));
    assert.deepEqual(done.stop, ['a']);
  });

  test('maxSurge 0: the task stops in the same pass its replacement is placed', () => {
    const noSurge = { ...spec, replicas: 2, update: { ...spec.update, maxSurge: 0 } };
    const two = [
      runningTask(noSurge, { id: 'a', host: 'h1' }),
      runningTask(noSurge, { id: 'c', host: 'h2' }),
    ];
    const plan = reconcile(input(noSurge, two, [draining('h1'), hostView('h2')]));
    assert.deepEqual(plan.stop, ['a']);
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h2'],
    );
  });

  test('maxSurge 0 and nowhere to go: nothing is stopped', () => {
    const noSurge = { ...spec, replicas: 2, update: { ...spec.update, maxSurge: 0 } };
    const two = [
      runningTask(noSurge, { id: 'a', host: 'h1' }),
      runningTask(noSurge, { id: 'c', host: 'h2' }),
    ];
    const plan = reconcile(input(noSurge, two, [draining('h1'), hostView('h2', { state: 'cordoned' })]));
    assert.ok(isEmptyPlan(plan));
  });

  test('nowhere to go: the replacement waits unplaced, saying why, and the task keeps running', () => {
    const hosts = [draining('h1'), hostView('h2', { cpu: 0.1 })];
    const plan = reconcile(input(spec, tasks, hosts));
    assert.deepEqual(plan.stop, []);
    assert.equal(plan.create.length, 1, 'one replacement within maxSurge');
    const r = plan.create[0]!;
    assert.equal(r.host, null);
    assert.match(r.unplaced ?? '', /^no host fits .*1 draining/);
    assert.match(plan.events[0]?.message ?? '', /to replace b \(v1\) on draining host h1, not placed/);
    // the same state again: no second replacement, nothing new to say
    const again = reconcile(input(spec, [...tasks, { ...r }], hosts));
    assert.ok(isEmptyPlan(again), JSON.stringify(again));
    assert.deepEqual(again.events, []);
  });

  test('at the deadline whatever is left stops, budget or not, and replacements are started', () => {
    const hosts = [draining('h1', NOW), hostView('h2')];
    const plan = reconcile(input(spec, tasks, hosts));
    assert.deepEqual(plan.stop, ['a', 'b']);
    const forced = plan.events.filter((e) => e.kind === 'task.drain-forced');
    assert.deepEqual(
      forced.map((e) => e.message),
      [
        'stopping task a (v1) on h1: the drain deadline of host h1 has passed (forced)',
        'stopping task b (v1) on h1: the drain deadline of host h1 has passed (forced)',
      ],
    );
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h2', 'h2'],
    );
  });

  test('before the deadline the plan asks to be woken at it', () => {
    const hosts = [draining('h1', NOW + 30_000), hostView('h2', { cpu: 0.1 })];
    const plan = reconcile(input(spec, tasks, hosts));
    assert.equal(plan.wakeAt, NOW + 30_000);
  });

  test('cordoned hosts keep their tasks; draining ones of other jobs are not this job’s business', () => {
    const plan = reconcile(input(spec, tasks, [hostView('h1', { state: 'cordoned' }), hostView('h2')]));
    assert.ok(isEmptyPlan(plan));
  });

  test('a draining host with a task that never started: it is replaced and stopped at once', () => {
    const t = [task(spec, { id: 'p', host: 'h1' }), ...tasks.slice(1).map((x) => ({ ...x, host: 'h2' }))];
    const plan = reconcile(input(spec, t, [draining('h1'), hostView('h2')]));
    assert.deepEqual(plan.stop, ['p']);
    assert.equal(plan.create.length, 1);
  });
});

describe('drainProgress', () => {
  const spec = jobSpec();
  const on = (id: string, host: string | null, desired: 'run' | 'stop' = 'run') =>
    task(spec, { id, host, desired });

  test('counts what is left on the host, of every job, and says when it is drained', () => {
    const tasks = [on('a', 'h1'), on('b', 'h1', 'stop'), on('c', 'h2'), on('d', null), on('e', 'h1')];
    const p = drainProgress({ id: 'h1', state: 'draining', drainDeadline: NOW + 240_000 }, tasks, NOW);
    assert.deepEqual(p, {
      host: 'h1',
      state: 'draining',
      left: 3,
      toMove: 2,
      stopping: 1,
      deadline: NOW + 240_000,
      forced: false,
      message: 'draining: 3 tasks left (2 to move, 1 stopping), deadline in 4m',
    });
    const forced = drainProgress({ id: 'h1', state: 'draining', drainDeadline: NOW }, [on('a', 'h1')], NOW);
    assert.equal(forced.forced, true);
    assert.equal(forced.message, 'draining: 1 task left (1 to move), deadline passed: stopping them');
    const done = drainProgress({ id: 'h1', state: 'draining' }, [on('c', 'h2')]);
    assert.equal(done.state, 'drained');
    assert.equal(done.message, 'drained');
    const ready = drainProgress({ id: 'h2', state: 'ready' }, tasks);
    assert.equal(ready.state, 'not-draining');
    assert.equal(ready.left, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Scenarios.

/** Every snapshot of a step keeps at least replicas - maxUnavailable available. */
function neverBelowBudget(s: StepRecord, job: string): void {
  for (const [when, snap] of [
    ['before', s.before],
    ['after the plan', s.afterPlan],
    ['after the agents', s.afterAgent],
  ] as const) {
    assert.ok(
      snap.available >= s.budget.minAvailable,
      `${job}, step ${s.step} ${when}: ${snap.available} available < ${s.budget.minAvailable}`,
    );
    assert.ok(
      snap.run <= s.budget.maxRun,
      `${job}, step ${s.step} ${when}: ${snap.run} > ${s.budget.maxRun}`,
    );
  }
}

describe('draining in the simulator', () => {
  test('two jobs: neither drops below its budget, and the drain completes once replacements are healthy', () => {
    const web = jobSpec({
      name: 'web',
      replicas: 4,
      cpu: 1,
      update: { maxUnavailable: 1, maxSurge: 1, minHealthyMs: 2000 },
    });
    const api = jobSpec({
      name: 'api',
      replicas: 3,
      cpu: 1,
      update: { maxUnavailable: 0, maxSurge: 1, minHealthyMs: 1000 },
    });
    const hosts = [simHost('h1', { cpu: 4 }), simHost('h2', { cpu: 4 }), simHost('h3', { cpu: 4 })];
    const a = new Simulator({ spec: web, hosts, idPrefix: 'w' });
    const b = new Simulator({ spec: api, hosts: [], world: a, idPrefix: 'a' });
    for (let i = 0; i < 10; i++) stepTogether([a, b], i);
    const onH1 = (sim: Simulator) => sim.jobTasks().filter((t) => t.host === 'h1').length;
    assert.ok(onH1(a) > 0 && onH1(b) > 0, 'both jobs have tasks on h1');

    a.drain('h1');
    const forced: string[] = [];
    let steps = 0;
    for (; steps < 60; steps++) {
      const [sa, sb] = stepTogether([a, b], steps);
      neverBelowBudget(sa!, 'web');
      neverBelowBudget(sb!, 'api');
      for (const s of [sa!, sb!])
        forced.push(...s.plan.events.filter((e) => e.kind === 'task.drain-forced').map((e) => e.message));
      if (
        drainProgress(a.hosts.get('h1')!, a.tasks.values()).state === 'drained' &&
        a.settled(sa!.plan) &&
        b.settled(sb!.plan)
      )
        break;
    }
    assert.ok(steps < 60, 'the drain completes');
    assert.deepEqual(forced, []);
    for (const [sim, spec] of [
      [a, web],
      [b, api],
    ] as const) {
      const tasks = sim.jobTasks();
      assert.equal(tasks.length, spec.replicas);
      for (const t of tasks) {
        assert.notEqual(t.host, 'h1');
        assert.equal(sim.statuses.get(t.id)?.healthy, true);
      }
    }
  });

  test('two jobs, replacements that cannot be placed: what fits moves, the rest is forced at the deadline', () => {
    const web = jobSpec({ name: 'web', replicas: 3, cpu: 1, update: { maxUnavailable: 1, maxSurge: 1 } });
    const api = jobSpec({ name: 'api', replicas: 2, cpu: 1, update: { maxUnavailable: 0, maxSurge: 1 } });
    const a = new Simulator({ spec: web, hosts: [simHost('h1', { cpu: 5 })], idPrefix: 'w' });
    const b = new Simulator({ spec: api, hosts: [], world: a, idPrefix: 'a' });
    for (let i = 0; i < 5; i++) stepTogether([a, b], i);
    // h2 has room for one task: one replacement can be placed, never all five
    a.hosts.set('h2', simHost('h2', { cpu: 1 }));
    a.drain('h1', 20_000);
    const deadline = a.now + 20_000;
    const forcedAt = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const steps = stepTogether([a, b], i);
      for (const [sim, s] of [
        [a, steps[0]!],
        [b, steps[1]!],
      ] as const) {
        const forced = s.plan.events.filter((e) => e.kind === 'task.drain-forced');
        if (s.now < deadline) {
          neverBelowBudget(s, sim.job.name);
          assert.deepEqual(forced, []);
          if (s.now < deadline - 5000) assert.equal(s.plan.wakeAt, deadline, `${sim.job.name} step ${i}`);
        } else if (!forcedAt.has(sim.job.name)) {
          forcedAt.set(sim.job.name, s.now);
          assert.ok(forced.length > 0, sim.job.name);
          assert.match(forced[0]!.message, /drain deadline of host h1 has passed \(forced\)/);
        }
      }
      if (a.now === deadline) {
        const waiting = [...a.tasks.values()].filter((t) => t.host === 'h1' && t.desired === 'run');
        assert.equal(waiting.length, 4, 'four tasks still wait on h1 for a place to go');
        const p = drainProgress(a.hosts.get('h1')!, a.tasks.values(), a.now);
        assert.equal(p.message, 'draining: 4 tasks left (4 to move), deadline passed: stopping them');
      }
    }
    assert.deepEqual(
      Object.fromEntries(forcedAt),
      { web: deadline, api: deadline },
      'forced exactly at the deadline',
    );
    assert.equal(drainProgress(a.hosts.get('h1')!, a.tasks.values(), a.now).state, 'drained');
    // one task runs on h2, the others wait unplaced with a reason
    const tasks = [...a.jobTasks(), ...b.jobTasks()];
    assert.equal(tasks.length, 5);
    assert.equal(tasks.filter((t) => t.host === 'h2').length, 1);
    for (const t of tasks.filter((t) => t.host !== 'h2')) {
      assert.equal(t.host, null);
      assert.match(t.unplaced ?? '', /no host fits/);
    }
  });
});

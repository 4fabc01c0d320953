/** reconcile: first deployment, steady state, stopped jobs, removed and lost tasks, superseded records. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { TaskView } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec, runningTask, task } from './fixtures.ts';
import { isEmptyPlan, reconcile } from './index.ts';
import { NOW, input, deployment } from './reconcile-fixtures.ts';

describe('first deployment', () => {
  test('creates replicas tasks on a ready host and starts a deployment record', () => {
    const spec = jobSpec({ replicas: 3 });
    const plan = reconcile(input({ job: jobRecord(spec) }));
    assert.deepEqual(
      plan.create.map((t) => [t.id, t.host, t.version, t.desired, t.createdAt]),
      [
        ['n0001', 'h1', 1, 'run', NOW],
        ['n0002', 'h1', 1, 'run', NOW],
        ['n0003', 'h1', 1, 'run', NOW],
      ],
    );
    assert.deepEqual(plan.create[0]?.spec, spec.task);
    assert.deepEqual(plan.stop, []);
    assert.deepEqual(plan.remove, []);
    assert.equal(plan.deployment?.state, 'in-progress');
    assert.equal(plan.deployment?.fromVersion, 0);
    assert.equal(plan.deployment?.placed, 3);
    assert.equal(plan.deployment?.startedAt, NOW);
    assert.ok(plan.events.some((e) => e.kind === 'deployment.started'));
    assert.equal(plan.events.filter((e) => e.kind === 'task.created').length, 3);
    assert.equal(plan.rollbackTo, undefined);
    assert.equal(plan.wakeAt, NOW + spec.update.deadlineMs);
  });

  test('the same input gives the same plan', () => {
    const spec = jobSpec({ replicas: 4 });
    const tasks = [runningTask(spec, { id: 'a' }), task(spec, { id: 'b', host: null, unplaced: 'x' })];
    const make = () => input({ job: jobRecord(spec, 2), tasks, newTaskId: ids() });
    assert.deepEqual(reconcile(make()), reconcile(make()));
  });

  test('ignores tasks of other jobs', () => {
    const spec = jobSpec({ replicas: 1 });
    const other = runningTask(jobSpec({ name: 'db' }), { id: 'x' });
    const plan = reconcile(input({ job: jobRecord(spec), tasks: [other] }));
    assert.equal(plan.create.length, 1);
    assert.deepEqual(plan.stop, []);
  });
});

describe('steady state', () => {
  test('a converged job gives an empty plan with no events', () => {
    const spec = jobSpec({ replicas: 2 });
    const tasks = [runningTask(spec, { id: 'a' }), runningTask(spec, { id: 'b' })];
    const d = deployment({
      state: 'succeeded',
      desired: 2,
      placed: 2,
      running: 2,
      healthy: 2,
      finishedAt: NOW - 1,
    });
    const plan = reconcile(input({ job: jobRecord(spec), tasks, deployment: d }));
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.events, []);
    assert.equal(plan.wakeAt, undefined);
  });

  test('a succeeded record is not rewritten when tasks change later', () => {
    const spec = jobSpec({ replicas: 2 });
    const d = deployment({
      state: 'succeeded',
      desired: 2,
      placed: 2,
      running: 2,
      healthy: 2,
      finishedAt: NOW - 1,
    });
    const plan = reconcile(
      input({ job: jobRecord(spec), tasks: [runningTask(spec, { id: 'a' })], deployment: d }),
    );
    assert.equal(plan.deployment, undefined);
    assert.equal(plan.create.length, 1, 'the missing replica is replaced');
  });
});

describe('stopped job', () => {
  test('every task gets desired stop; never-placed ones are removed; the deployment stops', () => {
    // d was already told to stop and has not said 'stopped' yet: it stays until it does.
    const spec = jobSpec({ replicas: 3 });
    const job = jobRecord(spec, 1, 'stopped');
    const tasks: TaskView[] = [
      runningTask(spec, { id: 'a' }),
      task(spec, { id: 'b' }),
      task(spec, { id: 'c', host: null, unplaced: 'no host fits' }),
      task(spec, { id: 'd', desired: 'stop' }),
    ];
    const plan = reconcile(input({ job, tasks, deployment: deployment({ desired: 3 }) }));
    assert.deepEqual(plan.stop, ['a', 'b']);
    assert.deepEqual(plan.remove, ['c']);
    assert.deepEqual(plan.create, []);
    assert.equal(plan.deployment?.state, 'stopped');
    assert.equal(plan.deployment?.finishedAt, NOW);
    assert.ok(plan.events.some((e) => e.kind === 'deployment.stopped'));
  });

  test('once everything is gone the plan is empty', () => {
    const spec = jobSpec({ replicas: 3 });
    const d = deployment({ state: 'stopped', finishedAt: NOW - 5 });
    const plan = reconcile(input({ job: jobRecord(spec, 1, 'stopped'), deployment: d }));
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.events, []);
  });
});

describe('removing stopped tasks', () => {
  const spec = jobSpec({ replicas: 0 });
  const job = jobRecord(spec);
  const d = deployment({ state: 'succeeded', desired: 0 });
  const cases: [string, TaskView, boolean][] = [
    [
      'stopped',
      runningTask(spec, { id: 'x', desired: 'stop' }, 0, { state: 'stopped', healthy: false }),
      true,
    ],
    // Until the agent says 'stopped', the task's traces may still be there (a failed task's agent
    // may be in its restart backoff; a task not yet reported may be starting).
    [
      'failed',
      runningTask(spec, { id: 'x', desired: 'stop' }, 0, { state: 'failed', healthy: false }),
      false,
    ],
    ['no status yet', task(spec, { id: 'x', desired: 'stop' }), false],
    ['never placed', task(spec, { id: 'x', desired: 'stop', host: null }), true],
    ['still running', runningTask(spec, { id: 'x', desired: 'stop' }), false],
    ['still starting', runningTask(spec, { id: 'x', desired: 'stop' }, 0, { state: 'starting' }), false],
    ['host down', runningTask(spec, { id: 'x', desired: 'stop', host: 'h2' }), true],
    ['host missing', runningTask(spec, { id: 'x', desired: 'stop', host: 'gone' }), true],
  ];
  for (const [name, t, removed] of cases) {
    test(`desired stop, ${name}: ${removed ? 'removed' : 'kept'}`, () => {
      const hosts = [hostView('h1'), hostView('h2', { state: 'down' })];
      const plan = reconcile(input({ job, tasks: [t], hosts, deployment: d }));
      assert.deepEqual(plan.remove, removed ? ['x'] : []);
      assert.deepEqual(plan.stop, []);
      if (removed) assert.equal(plan.events[0]?.kind, 'task.removed');
    });
  }
});

describe('lost hosts', () => {
  test('tasks on a down or missing host are removed and replaced on a ready host', () => {
    const spec = jobSpec({ replicas: 3 });
    const tasks = [
      runningTask(spec, { id: 'a', host: 'h1' }),
      runningTask(spec, { id: 'b', host: 'h2' }),
      runningTask(spec, { id: 'c', host: 'h3' }),
    ];
    const hosts = [hostView('h1'), hostView('h2', { state: 'down' }), hostView('h4', { state: 'cordoned' })];
    const d = deployment({ state: 'succeeded', desired: 3 });
    const plan = reconcile(input({ job: jobRecord(spec), tasks, hosts, deployment: d }));
    assert.deepEqual(plan.remove, ['b', 'c']);
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h1', 'h1'],
    );
    assert.deepEqual(
      plan.events.filter((e) => e.kind === 'task.lost').map((e) => [e.task, e.host, e.message]),
      [
        ['b', 'h2', 'task b (v1) is lost: host h2 is down'],
        ['c', 'h3', 'task c (v1) is lost: host h3 is gone'],
      ],
    );
  });
});

describe('superseding', () => {
  test('an in-progress record of another version is superseded, once', () => {
    const v2 = jobSpec({ replicas: 1, command: ['v2'] });
    const inflight = deployment({ version: 1 });
    const done = deployment({ version: 0, state: 'succeeded' });
    const plan = reconcile(input({ job: jobRecord(v2, 2), otherDeployments: [inflight, done] }));
    assert.equal(plan.supersede.length, 1);
    assert.equal(plan.supersede[0]?.state, 'superseded');
    assert.equal(plan.supersede[0]?.message, 'superseded by v2');
    assert.equal(plan.supersede[0]?.finishedAt, NOW);
    assert.ok(plan.events.some((e) => e.kind === 'deployment.superseded'));
  });
});

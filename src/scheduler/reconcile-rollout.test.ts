/** reconcile: scaling and the rolling update budget. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobRecord, jobSpec, runningTask, task } from './fixtures.ts';
import { isEmptyPlan, reconcile } from './index.ts';
import { NOW, input, deployment } from './reconcile-fixtures.ts';

describe('scaling (a new version with the same task spec keeps its tasks)', () => {
  test('scale up starts only the missing tasks', () => {
    const v1 = jobSpec({ replicas: 2 });
    const v2 = { ...v1, replicas: 4 };
    const tasks = [runningTask(v1, { id: 'a' }), runningTask(v1, { id: 'b' })];
    const plan = reconcile(input({ job: jobRecord(v2, 2), tasks }));
    assert.deepEqual(plan.stop, []);
    assert.equal(plan.create.length, 2);
    assert.equal(plan.deployment?.fromVersion, 1);
    assert.equal(plan.deployment?.healthy, 2);
    assert.equal(plan.deployment?.old, 0);
    assert.equal(plan.deployment?.state, 'in-progress');
  });

  test('scale down stops unhealthy and not-yet-running tasks first, then the newest', () => {
    const v1 = jobSpec({ replicas: 6 });
    const v2 = { ...v1, replicas: 2 };
    const tasks = [
      runningTask(v1, { id: 'old', createdAt: 1 }),
      runningTask(v1, { id: 'mid', createdAt: 2 }),
      runningTask(v1, { id: 'new', createdAt: 3 }),
      runningTask(v1, { id: 'sick', createdAt: 0 }, 0, { healthy: false }),
      task(v1, { id: 'pending', createdAt: 0 }),
      task(v1, { id: 'nowhere', createdAt: 0, host: null, unplaced: 'x' }),
    ];
    const plan = reconcile(input({ job: jobRecord(v2, 2), tasks }));
    assert.deepEqual(plan.remove, ['nowhere']);
    assert.deepEqual(plan.stop, ['pending', 'sick', 'new']);
    assert.deepEqual(plan.create, []);
    // what is left is already complete: the deployment succeeds in the same pass
    assert.equal(plan.deployment?.state, 'succeeded');
    assert.equal(plan.deployment?.healthy, 2);
  });

  test('scale down prefers tasks of an older version among equals', () => {
    const v1 = jobSpec({ replicas: 2 });
    const tasks = [
      runningTask(v1, { id: 'a', version: 1, createdAt: 1 }),
      runningTask(v1, { id: 'b', version: 2, createdAt: 0 }),
    ];
    const plan = reconcile(input({ job: jobRecord({ ...v1, replicas: 1 }, 3), tasks }));
    assert.deepEqual(plan.stop, ['a']);
  });
});

describe('rolling update budget', () => {
  const v1 = jobSpec({ replicas: 5, update: { maxUnavailable: 1, maxSurge: 1 } });
  const v2 = jobSpec({ replicas: 5, command: ['serve', '--v2'], update: { maxUnavailable: 1, maxSurge: 1 } });
  const olds = [1, 2, 3, 4, 5].map((i) => runningTask(v1, { id: `o${i}`, createdAt: i }));

  test('first pass: one old stopped, two new started (6 running, 4 available)', () => {
    const plan = reconcile(input({ job: jobRecord(v2, 2), tasks: olds }));
    assert.deepEqual(plan.stop, ['o5']);
    assert.equal(plan.create.length, 2);
    assert.equal(plan.deployment?.fromVersion, 1);
    assert.equal(plan.deployment?.old, 4);
    assert.ok(plan.events.some((e) => e.kind === 'task.stopping' && e.message.includes('replaced by v2')));
  });

  test('unavailable old tasks are stopped whatever the budget', () => {
    const sick = olds.map((t, i) => (i < 3 ? { ...t, status: { ...t.status!, healthy: false } } : t));
    const plan = reconcile(input({ job: jobRecord(v2, 2), tasks: sick }));
    assert.deepEqual(plan.stop.sort(), ['o1', 'o2', 'o3']);
    assert.equal(plan.create.length, 4, 'up to replicas + maxSurge with desired run');
  });

  test('new tasks not yet past minHealthy do not count as available; wakeAt says when they will', () => {
    const v2m = { ...v2, update: { ...v2.update, minHealthyMs: 5000 } };
    const tasks = [
      ...olds.slice(0, 4),
      runningTask(v2m, { id: 'n1', version: 2 }, NOW - 1000),
      runningTask(v2m, { id: 'n2', version: 2 }, NOW - 6000),
    ];
    const d = deployment({ version: 2, fromVersion: 1, desired: 5 });
    const plan = reconcile(input({ job: jobRecord(v2m, 2), tasks, deployment: d }));
    // available: 4 old + n2 = 5, so one old may go and one new may start
    assert.equal(plan.stop.length, 1);
    assert.equal(plan.create.length, 1);
    assert.equal(plan.deployment?.healthy, 1);
    assert.equal(plan.wakeAt, NOW + 4000);
  });

  test('maxSurge 0: stops one old and starts its replacement', () => {
    const v2s = { ...v2, update: { ...v2.update, maxSurge: 0 } };
    const plan = reconcile(input({ job: jobRecord(v2s, 2), tasks: olds }));
    assert.equal(plan.stop.length, 1);
    assert.equal(plan.create.length, 1);
  });

  test('maxSurge 0 and maxUnavailable 0 would deadlock: it surges by one', () => {
    const v2z = { ...v2, update: { ...v2.update, maxSurge: 0, maxUnavailable: 0 } };
    const plan = reconcile(input({ job: jobRecord(v2z, 2), tasks: olds }));
    assert.equal(plan.stop.length, 0);
    assert.equal(plan.create.length, 1);
    assert.match(
      plan.events.find((e) => e.kind === 'deployment.started')?.message ?? '',
      /maxUnavailable 0, maxSurge 1/,
    );
  });

  test('the deployment succeeds when the last old task goes', () => {
    const tasks = [...[1, 2, 3, 4, 5].map((i) => runningTask(v2, { id: `n${i}`, version: 2 })), olds[0]!];
    const d = deployment({ version: 2, fromVersion: 1, desired: 5, old: 1 });
    const plan = reconcile(input({ job: jobRecord(v2, 2), tasks, deployment: d }));
    assert.deepEqual(plan.stop, ['o1']);
    assert.equal(plan.deployment?.state, 'succeeded');
    assert.equal(plan.deployment?.finishedAt, NOW);
    assert.ok(plan.events.some((e) => e.kind === 'deployment.succeeded'));
  });

  test('a record is only written when something other than updatedAt changed', () => {
    const tasks = [
      ...olds.slice(0, 4),
      task(v2, { id: 'n1', version: 2 }),
      task(v2, { id: 'n2', version: 2 }),
    ];
    const first = reconcile(
      input({
        job: jobRecord(v2, 2),
        tasks,
        deployment: deployment({ version: 2, fromVersion: 1, desired: 5 }),
      }),
    );
    assert.ok(first.deployment, 'counts changed');
    assert.ok(first.events.some((e) => e.kind === 'deployment.progress'));
    const again = reconcile(
      input({ job: jobRecord(v2, 2), tasks, deployment: first.deployment, now: NOW + 1000 }),
    );
    assert.ok(isEmptyPlan(again));
    assert.deepEqual(again.events, []);
  });
});

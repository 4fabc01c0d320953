/** reconcile: failed deployments and rolling back. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { jobRecord, jobSpec, runningTask, task } from './fixtures.ts';
import { isEmptyPlan, reconcile } from './index.ts';
import { NOW, input, deployment } from './reconcile-fixtures.ts';

// What every test of a failed deployment starts from (the same values for each).
const v1 = jobSpec({ replicas: 2 });
const v2 = jobSpec({ replicas: 2, command: ['serve', '--v2'], update: { deadlineMs: 60_000 } });
const versions = [
  { name: 'web', version: 1, spec: v1, createdAt: 0 },
  { name: 'web', version: 2, spec: v2, createdAt: 0 },
];
const good = deployment({ version: 1, state: 'succeeded', desired: 2 });
const olds = [runningTask(v1, { id: 'o1' })];
const stuck = [task(v2, { id: 'n1', version: 2 }), task(v2, { id: 'n2', version: 2 })];

describe('deployment failure and rollback', () => {
  test('past the deadline: failed with the reason, rollback to the last good version', () => {
    const d = deployment({ version: 2, fromVersion: 1, desired: 2, startedAt: NOW - 60_000 });
    // without the deadline this pass would stop an old task and start a second new one
    const tasks = [...olds, runningTask(v1, { id: 'o2' }), stuck[0]!];
    const plan = reconcile(
      input({ job: jobRecord(v2, 2), versions, tasks, deployment: d, otherDeployments: [good] }),
    );
    assert.equal(plan.deployment?.state, 'failed');
    assert.equal(plan.deployment?.finishedAt, NOW);
    assert.equal(
      plan.deployment?.message,
      'not finished within its deadline of 1m: 0/2 tasks of v2 available, 2 old remaining',
    );
    assert.equal(plan.rollbackTo, 1);
    assert.deepEqual(plan.create, []);
    assert.deepEqual(plan.stop, [], 'a failed deployment leaves old tasks alone');
    assert.ok(plan.events.some((e) => e.kind === 'job.rollback'));
  });

  test('lastGoodVersion takes precedence', () => {
    const d = deployment({ version: 3, fromVersion: 2, desired: 2, startedAt: NOW - 60_000 });
    const v3 = { ...v2, task: { ...v2.task, command: ['serve', '--v3'] } };
    const plan = reconcile(
      input({
        job: jobRecord(v3, 3),
        versions: [...versions, { name: 'web', version: 3, spec: v3, createdAt: 0 }],
        deployment: d,
        otherDeployments: [good, { ...good, version: 2 }],
        lastGoodVersion: 1,
      }),
    );
    assert.equal(plan.rollbackTo, 1);
  });

  test('crash-looping new task: failed at once, with why', () => {
    const crashing = runningTask(v2, { id: 'n1', version: 2 }, 0, {
      state: 'starting',
      healthy: false,
      restarts: 3,
      reason: 'Exited',
      exitCode: 1,
    });
    const d = deployment({ version: 2, fromVersion: 1, desired: 2 });
    const plan = reconcile(
      input({
        job: jobRecord(v2, 2),
        versions,
        tasks: [...olds, crashing],
        deployment: d,
        otherDeployments: [good],
      }),
    );
    assert.equal(plan.deployment?.state, 'failed');
    assert.equal(
      plan.deployment?.message,
      'task n1 is crash-looping: 3 restarts, not healthy (Exited, exit code 1)',
    );
    assert.equal(plan.rollbackTo, 1);
  });

  test('a new task in state failed fails the deployment', () => {
    const failed = runningTask(v2, { id: 'n1', version: 2 }, 0, {
      state: 'failed',
      healthy: false,
      restarts: 1,
      reason: 'StartFailed',
      message: 'no such file',
    });
    const d = deployment({ version: 2, fromVersion: 1, desired: 2 });
    const plan = reconcile(
      input({ job: jobRecord(v2, 2), versions, tasks: [...olds, failed], deployment: d }),
    );
    assert.equal(plan.deployment?.state, 'failed');
    assert.equal(plan.deployment?.message, 'task n1 failed (StartFailed: no such file) after 1 restart');
    assert.equal(plan.rollbackTo, undefined, 'no version known good');
    assert.ok(
      plan.events.some(
        (e) => e.kind === 'job.rollback-skipped' && e.message.includes('no version before v2 is known good'),
      ),
    );
  });
});

describe('deployment failure and rollback', () => {
  test('a failed deployment stays put: no new tasks beyond those it had, nothing old stopped', () => {
    const noRollback = { ...v2, update: { ...v2.update, autoRollback: false } };
    const d = deployment({
      version: 2,
      fromVersion: 1,
      desired: 2,
      state: 'failed',
      placed: 2,
      finishedAt: NOW - 1,
      message: 'x',
    });
    const plan = reconcile(
      input({ job: jobRecord(noRollback, 2), versions, tasks: [...olds, ...stuck], deployment: d }),
    );
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.events, []);
    // one of its tasks is lost: it may be replaced (back to 2), not more
    const lostOne = [...olds, stuck[0]!, { ...stuck[1]!, host: 'h9' }];
    const again = reconcile(
      input({ job: jobRecord(noRollback, 2), versions, tasks: lostOne, deployment: d }),
    );
    assert.deepEqual(again.remove, ['n2']);
    assert.equal(again.create.length, 1);
    // it had one new task when it failed: it never gets a second one
    const one = { ...d, placed: 1 };
    const none = reconcile(
      input({ job: jobRecord(noRollback, 2), versions, tasks: [...olds, stuck[0]!], deployment: one }),
    );
    assert.ok(isEmptyPlan(none));
  });

  test('a failed deployment keeps asking for its rollback until the new version is written', () => {
    const d = deployment({
      version: 2,
      fromVersion: 1,
      desired: 2,
      state: 'failed',
      placed: 2,
      finishedAt: NOW - 1,
    });
    const plan = reconcile(
      input({
        job: jobRecord(v2, 2),
        versions,
        tasks: [...olds, ...stuck],
        deployment: d,
        otherDeployments: [good],
      }),
    );
    assert.equal(plan.rollbackTo, 1);
    assert.equal(plan.deployment, undefined);
  });

  test('no rollback to a version with the same spec (a failed rollback does not loop)', () => {
    const v3 = v1;
    const d = deployment({ version: 3, fromVersion: 2, desired: 2, startedAt: NOW - 10 * 60_000 });
    const plan = reconcile(
      input({
        job: jobRecord(v3, 3),
        versions: [...versions, { name: 'web', version: 3, spec: v3, createdAt: 0 }],
        tasks: stuck,
        deployment: d,
        otherDeployments: [good],
      }),
    );
    assert.equal(plan.deployment?.state, 'failed');
    assert.equal(plan.rollbackTo, undefined);
    assert.ok(
      plan.events.some((e) => e.message.includes('v1 (the last good version) has the same spec as v3')),
    );
  });

  test('a rollback keeps the tasks that already run the target spec', () => {
    const v3 = v1;
    const tasks = [runningTask(v1, { id: 'o1' }), runningTask(v1, { id: 'o2' }), ...stuck];
    const plan = reconcile(input({ job: jobRecord(v3, 3), tasks, otherDeployments: [good] }));
    assert.deepEqual(plan.stop.sort(), ['n1', 'n2']);
    assert.deepEqual(plan.create, []);
    assert.equal(plan.deployment?.fromVersion, 2);
    assert.equal(plan.deployment?.state, 'succeeded');
  });
});

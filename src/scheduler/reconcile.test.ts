import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, TaskView } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec, Mi, runningTask, task } from './fixtures.ts';
import { isEmptyPlan, reconcile, type ReconcileInput } from './index.ts';

const NOW = 1_000_000;

function input(o: Partial<ReconcileInput> & Pick<ReconcileInput, 'job'>): ReconcileInput {
  return {
    versions: [{ name: o.job.name, version: o.job.version, spec: o.job.spec, createdAt: 0 }],
    tasks: [],
    hosts: [hostView('h1')],
    deployment: undefined,
    now: NOW,
    newTaskId: ids(),
    ...o,
  };
}

function deployment(o: Partial<Deployment> = {}): Deployment {
  return {
    job: 'web',
    version: 1,
    fromVersion: 0,
    state: 'in-progress',
    desired: 1,
    placed: 0,
    running: 0,
    healthy: 0,
    old: 0,
    message: '',
    startedAt: NOW - 1000,
    updatedAt: NOW - 1000,
    ...o,
  };
}

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

describe('placement', () => {
  test('no host fits: the task is created unplaced with a reason with numbers', () => {
    const spec = jobSpec({ replicas: 1, cpu: 4, memoryBytes: 64 * Mi, pids: 64 });
    const hosts = [hostView('h1', { cpu: 2 })];
    const plan = reconcile(input({ job: jobRecord(spec), hosts }));
    assert.equal(plan.create.length, 1);
    const t = plan.create[0];
    assert.equal(t?.host, null);
    assert.equal(
      t?.unplaced,
      'no host fits cpu 4, memory 64Mi, pids 64: of 1 host, 1 too little cpu; needs 4 CPUs; the largest free is 2 on host h1',
    );
    assert.equal(plan.events[0]?.kind, 'task.unplaceable');
    assert.equal(plan.deployment?.placed, 0);
    // The same reason as data: per filter what it rejected, the nearest fit, what would make it fit.
    const e = t?.explanation;
    assert.ok(e, 'an unplaced task carries a structured explanation');
    assert.equal(e.summary, t?.unplaced);
    assert.deepEqual(e.needs, { cpu: 4, memoryBytes: 64 * Mi, pids: 64, ports: [] });
    assert.equal(e.hosts, 1);
    assert.deepEqual(
      e.filters.filter((f) => f.rejected > 0),
      [
        {
          filter: 'resources-fit',
          rejected: 1,
          reasons: [{ reason: 'too little cpu', hosts: 1, examples: ['h1'] }],
        },
      ],
    );
    assert.deepEqual(e.nearest, [
      { host: 'h1', failed: [{ filter: 'resources-fit', reason: 'too little cpu', shortfall: { cpu: 2 } }] },
    ]);
    assert.deepEqual(e.suggestions, ['needs 4 CPUs; the largest free is 2 on host h1']);
    assert.equal('job' in e || 'task' in e, false, 'the record does not repeat the job and task');
  });

  test('allocated capacity counts, and several shortages are named', () => {
    const spec = jobSpec({ replicas: 1, cpu: 1, memoryBytes: 512 * Mi, pids: 10 });
    const hosts = [
      hostView('h1', {
        cpu: 4,
        memoryBytes: Mi * 1024,
        pids: 100,
        allocated: { cpu: 3.5, memoryBytes: 768 * Mi, pids: 95 },
      }),
      hostView('h2', { state: 'draining' }),
    ];
    const plan = reconcile(input({ job: jobRecord(spec), hosts }));
    assert.equal(
      plan.create[0]?.unplaced,
      'no host fits cpu 1, memory 512Mi, pids 10: of 2 hosts, 1 draining, 1 too little cpu, memory, pids; ' +
        '1 host would fit if ready: h2 (draining); ' +
        'needs 1 CPU, 512Mi memory and 10 pids; the largest free is 0.5 CPU, 256Mi memory and 5 pids on host h1',
    );
  });

  test('an unplaced task is re-placed with its id once a host fits, and no duplicate is created', () => {
    const spec = jobSpec({ replicas: 1, cpu: 4 });
    const reason =
      'no host fits cpu 4, memory 64Mi, pids 64: of 1 host, 1 too little cpu; needs 4 CPUs; the largest free is 2 on host h1';
    const explanation = reconcile(input({ job: jobRecord(spec), hosts: [hostView('h1', { cpu: 2 })] }))
      .create[0]?.explanation;
    assert.ok(explanation);
    const waiting = task(spec, { id: 'u1', host: null, unplaced: reason, explanation, createdAt: 5 });
    const d = deployment();
    const still = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [waiting],
        hosts: [hostView('h1', { cpu: 2 })],
        deployment: { ...d, message: '0/1 tasks of v1 available (0 placed, 0 running), 0 old remaining' },
      }),
    );
    assert.ok(isEmptyPlan(still), 'same reason: nothing to write');
    assert.deepEqual(still.events, []);

    const plan = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [waiting],
        hosts: [hostView('h1', { cpu: 2 }), hostView('h2', { cpu: 8 })],
        deployment: d,
      }),
    );
    assert.deepEqual(
      plan.create,
      [{ ...waiting, host: 'h2' }].map(({ unplaced: _, explanation: _e, ...t }) => t),
    );
    assert.equal(plan.events.find((e) => e.kind === 'task.placed')?.host, 'h2');
  });

  test('a record from before explanations gets one written, once', () => {
    const spec = jobSpec({ replicas: 1, cpu: 4 });
    const first = reconcile(input({ job: jobRecord(spec), hosts: [hostView('h1', { cpu: 2 })] })).create[0];
    assert.ok(first?.unplaced !== undefined);
    const old = task(spec, { id: 'u1', host: null, unplaced: first.unplaced });
    const plan = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [old],
        hosts: [hostView('h1', { cpu: 2 })],
        deployment: deployment(),
      }),
    );
    assert.deepEqual(plan.create[0]?.explanation, first.explanation);
  });

  test('a changed reason is written again', () => {
    const spec = jobSpec({ replicas: 1, cpu: 4 });
    const waiting = task(spec, { id: 'u1', host: null, unplaced: 'old reason' });
    const plan = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [waiting],
        hosts: [hostView('h1', { cpu: 1 })],
        deployment: deployment(),
      }),
    );
    assert.equal(plan.create.length, 1);
    assert.equal(plan.create[0]?.id, 'u1');
    assert.match(plan.create[0]?.unplaced ?? '', /the largest free is 1 on host h1/);
    assert.equal(plan.create[0]?.explanation?.summary, plan.create[0]?.unplaced);
  });

  test('a placed task drops its explanation', () => {
    const spec = jobSpec({ replicas: 1, cpu: 4 });
    const first = reconcile(input({ job: jobRecord(spec), hosts: [hostView('h1', { cpu: 2 })] }));
    const waiting = first.create[0];
    assert.ok(waiting?.explanation);
    const plan = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [{ ...waiting }],
        hosts: [hostView('h1', { cpu: 2 }), hostView('h2', { cpu: 8 })],
        deployment: deployment(),
      }),
    );
    assert.equal(plan.create[0]?.host, 'h2');
    assert.equal(plan.create[0]?.unplaced, undefined);
    assert.equal(plan.create[0]?.explanation, undefined);
  });

  test('spread: fewest tasks of the job, then most free memory, then host id; capacity used in the plan counts', () => {
    const spec = jobSpec({ replicas: 4, cpu: 1, memoryBytes: Mi });
    const hosts = [
      hostView('h3', { cpu: 2, memoryBytes: 100 * Mi }),
      hostView('h1', { cpu: 10, memoryBytes: 100 * Mi }),
      hostView('h2', { cpu: 10, memoryBytes: 200 * Mi }),
    ];
    const tasks = [runningTask(spec, { id: 'a', host: 'h2' })];
    const plan = reconcile(
      input({ job: jobRecord(spec), tasks, hosts, deployment: deployment({ desired: 4 }) }),
    );
    // h1 and h3 have no task and the same free memory: h1 by id, then h3; then every host has one
    // task of the job and h2 has the most free memory.
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h1', 'h3', 'h2'],
    );
  });

  test('cordoned hosts get no new tasks but keep theirs', () => {
    const spec = jobSpec({ replicas: 2 });
    const hosts = [hostView('h1', { state: 'cordoned' }), hostView('h2')];
    const plan = reconcile(
      input({
        job: jobRecord(spec),
        tasks: [runningTask(spec, { id: 'a', host: 'h1' })],
        hosts,
        deployment: deployment({ desired: 2 }),
      }),
    );
    assert.deepEqual(plan.stop, []);
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h2'],
    );
  });
});

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

describe('deployment failure and rollback', () => {
  const v1 = jobSpec({ replicas: 2 });
  const v2 = jobSpec({ replicas: 2, command: ['serve', '--v2'], update: { deadlineMs: 60_000 } });
  const versions = [
    { name: 'web', version: 1, spec: v1, createdAt: 0 },
    { name: 'web', version: 2, spec: v2, createdAt: 0 },
  ];
  const good = deployment({ version: 1, state: 'succeeded', desired: 2 });
  const olds = [runningTask(v1, { id: 'o1' })];
  const stuck = [task(v2, { id: 'n1', version: 2 }), task(v2, { id: 'n2', version: 2 })];

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

/** Rescheduling crash-looping tasks to another host. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, HostView, JobSpec, TaskStatus, TaskView } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec, runningTask, simHost } from './fixtures.ts';
import { isEmptyPlan, reconcile, rescheduleReason, spreadPlacement, type ReconcileInput } from './index.ts';
import { Simulator } from './simulator.ts';

const NOW = 1_000_000;

const crashing: Partial<TaskStatus> = {
  state: 'failed',
  healthy: false,
  ready: false,
  restarts: 5,
  reason: 'Exited',
  exitCode: 1,
};

function withRestart(spec: JobSpec, rescheduleAfter: number | undefined): JobSpec {
  const { rescheduleAfter: _, ...restart } = spec.task.restart;
  return {
    ...spec,
    task: {
      ...spec.task,
      restart: rescheduleAfter === undefined ? restart : { ...restart, rescheduleAfter },
    },
  };
}

function done(spec: JobSpec, o: Partial<Deployment> = {}): Deployment {
  return {
    job: spec.name,
    version: 1,
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
    ...o,
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
    deployment: done(spec),
    now: NOW,
    newTaskId: ids(),
    ...o,
  };
}

describe('rescheduleReason', () => {
  const spec = jobSpec();
  test('after rescheduleAfter restarts (default 5) while not healthy; 0 means never', () => {
    const t = (restarts: number, status: Partial<TaskStatus> = {}, s = spec) =>
      runningTask(s, { id: 'x' }, 0, { ...crashing, restarts, ...status });
    assert.equal(rescheduleReason(t(4)), undefined);
    assert.equal(rescheduleReason(t(5)), '5 restarts, not healthy, last Exited');
    assert.equal(rescheduleReason(t(9, { healthy: true, state: 'running' })), undefined);
    assert.equal(rescheduleReason(t(9, { state: 'stopped' })), undefined);
    assert.equal(rescheduleReason(t(1, {}, withRestart(spec, 1))), '1 restarts, not healthy, last Exited');
    assert.equal(rescheduleReason(t(100, {}, withRestart(spec, 0))), undefined);
    assert.equal(rescheduleReason({ ...t(9), desired: 'stop' }), undefined);
    assert.equal(rescheduleReason({ ...t(9), host: null }), undefined);
  });
});

describe('one pass', () => {
  const spec = jobSpec({ replicas: 2 });
  const tasks = [
    runningTask(spec, { id: 'bad', host: 'h1', createdAt: 1 }, 0, crashing),
    runningTask(spec, { id: 'ok', host: 'h2', createdAt: 2 }),
  ];

  test('the task is replaced on another host, even one that scores worse, and stopped in the same pass', () => {
    // h1 is by far the emptiest: without the avoid hint the replacement would go back there
    const hosts = [hostView('h1', { cpu: 64 }), hostView('h2', { cpu: 2 })];
    const plan = reconcile(input(spec, tasks, hosts));
    assert.deepEqual(
      plan.create.map((t) => [t.id, t.host]),
      [['n0001', 'h2']],
    );
    assert.deepEqual(plan.stop, ['bad']);
    assert.deepEqual(
      plan.events.map((e) => [e.kind, e.message]),
      [
        [
          'task.rescheduled',
          'rescheduling task bad (v1) off h1 (5 restarts, not healthy, last Exited): replaced by n0001 (v1) on h2',
        ],
        [
          'task.stopping',
          'stopping task bad (v1) on h1: rescheduled after 5 restarts, not healthy, last Exited (replaced by n0001 (v1) on h2)',
        ],
      ],
    );
  });

  test('the spread strategy honours the hint too', () => {
    const hosts = [hostView('h1', { cpu: 64 }), hostView('h2', { cpu: 2 })];
    const plan = reconcile(input(spec, tasks, hosts, { placement: spreadPlacement }));
    assert.deepEqual(
      plan.create.map((t) => t.host),
      ['h2'],
    );
  });

  test('no other host fits: it keeps restarting in place, and nothing is written', () => {
    const hosts = [hostView('h1'), hostView('h2', { state: 'cordoned' })];
    const plan = reconcile(input(spec, tasks, hosts));
    assert.ok(isEmptyPlan(plan));
    assert.deepEqual(plan.events, []);
  });

  test('rescheduleAfter 0: never', () => {
    const never = withRestart(spec, 0);
    const t = tasks.map((x) => ({ ...x, spec: never.task }));
    const plan = reconcile(input(never, t, [hostView('h1'), hostView('h2')]));
    assert.ok(isEmptyPlan(plan));
  });

  test('maxSurge 0: the replacement still starts, as the crashing task stops in the same pass', () => {
    const noSurge = { ...spec, update: { ...spec.update, maxSurge: 0 } };
    const plan = reconcile(input(noSurge, tasks, [hostView('h1'), hostView('h2')]));
    assert.deepEqual(plan.stop, ['bad']);
    assert.equal(plan.create.length, 1);
  });

  test('a task of the version being rolled out is not moved: its crash loop fails the deployment', () => {
    const { finishedAt: _, ...inProgress } = done(spec, { state: 'in-progress' });
    const plan = reconcile(input(spec, tasks, [hostView('h1'), hostView('h2')], { deployment: inProgress }));
    assert.equal(plan.deployment?.state, 'failed');
    assert.ok(!plan.events.some((e) => e.kind === 'task.rescheduled'));
  });
});

describe('in the simulator', () => {
  test('a task that keeps crashing on its host moves to another one', () => {
    let hostBroken = false;
    const sim = new Simulator({
      spec: jobSpec({ replicas: 2 }),
      hosts: [simHost('h1'), simHost('h2')],
      agent: { crashes: (t) => hostBroken && t.host === 'h1' },
    });
    assert.ok(sim.run(20).settled);
    const onH1 = sim.jobTasks().find((t) => t.host === 'h1');
    assert.ok(onH1);
    hostBroken = true;
    let restartsSeen = 0;
    for (let i = 0; i < 30; i++) {
      sim.step(i);
      restartsSeen = Math.max(restartsSeen, sim.statuses.get(onH1.id)?.restarts ?? 0);
    }
    assert.equal(restartsSeen, 5, 'restarted in place until rescheduleAfter');
    const rescheduled = sim.events.filter((e) => e.kind === 'task.rescheduled');
    assert.equal(rescheduled.length, 1);
    assert.equal(rescheduled[0]?.task !== undefined, true);
    const tasks = sim.jobTasks();
    assert.equal(tasks.length, 2);
    for (const t of tasks) {
      assert.equal(t.host, 'h2');
      assert.equal(sim.statuses.get(t.id)?.healthy, true);
    }
  });

  test('with nowhere else to go the task keeps restarting where it is', () => {
    let hostBroken = false;
    const sim = new Simulator({
      spec: jobSpec({ replicas: 1 }),
      hosts: [simHost('h1')],
      agent: { crashes: () => hostBroken },
    });
    assert.ok(sim.run(5).settled);
    hostBroken = true;
    for (let i = 0; i < 30; i++) sim.step(i);
    const [t] = sim.jobTasks();
    assert.ok((sim.statuses.get(t!.id)?.restarts ?? 0) > 10);
    assert.equal(sim.events.filter((e) => e.kind === 'task.rescheduled').length, 0);
  });
});

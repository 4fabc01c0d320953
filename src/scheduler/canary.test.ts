/** Canary deployments: the pieces, one pass, then whole rollouts in the simulator. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, JobSpec, UpdateSpec } from '../model/index.ts';
import { hostView, ids, jobRecord, jobSpec, runningTask, simHost } from './fixtures.ts';
import {
  canaryCount,
  deadlineOf,
  isEmptyPlan,
  phaseChange,
  planRollout,
  promoteDeployment,
  reconcile,
  rolloutBudget,
} from './index.ts';
import { Simulator, type StepRecord } from './simulator.ts';

const NOW = 1_000_000;

function deployment(o: Partial<Deployment> = {}): Deployment {
  return {
    job: 'web',
    version: 2,
    fromVersion: 1,
    state: 'in-progress',
    desired: 4,
    placed: 0,
    running: 0,
    healthy: 0,
    old: 4,
    message: '',
    startedAt: NOW - 1000,
    updatedAt: NOW - 1000,
    ...o,
  };
}

/** v1 and v2 of a job (autoPromote off unless `update` says otherwise). */
function specs(update: Partial<UpdateSpec>, replicas = 4): { v1: JobSpec; v2: JobSpec } {
  const v1 = jobSpec({ replicas, update: { autoPromote: false, ...update } });
  return { v1, v2: { ...v1, task: { ...v1.task, command: ['serve', '--v2'] } } };
}

describe('canaryCount', () => {
  const { v1, v2 } = specs({ canary: 2 });
  const versions = [
    { name: 'web', version: 1, spec: v1, createdAt: 0 },
    { name: 'web', version: 2, spec: v2, createdAt: 0 },
  ];
  const good = deployment({ version: 1, state: 'succeeded' });

  test('min(canary, replicas) when there are old tasks to replace', () => {
    assert.equal(canaryCount(jobRecord(v2, 2), 4, versions, [good], undefined), 2);
    const big = { ...v2, update: { ...v2.update, canary: 10 } };
    assert.equal(canaryCount(jobRecord(big, 2), 4, versions, [good], undefined), 4);
  });

  test('none without canary, without old tasks, or for replicas 0', () => {
    const none = { ...v2, update: { ...v2.update, canary: 0 } };
    assert.equal(canaryCount(jobRecord(none, 2), 4, versions, [], undefined), 0);
    assert.equal(canaryCount(jobRecord(v2, 2), 0, versions, [], undefined), 0);
    assert.equal(canaryCount(jobRecord({ ...v2, replicas: 0 }, 2), 4, versions, [], undefined), 0);
  });

  test('none for a known-good task spec (a rollback), from the records or lastGoodVersion', () => {
    const v3 = { ...v1 };
    const all = [...versions, { name: 'web', version: 3, spec: v3, createdAt: 0 }];
    assert.equal(canaryCount(jobRecord(v3, 3), 4, all, [good], undefined), 0);
    assert.equal(canaryCount(jobRecord(v3, 3), 4, all, [], 1), 0);
    // v1's deployment failed: its spec is not known good
    assert.equal(canaryCount(jobRecord(v3, 3), 4, all, [{ ...good, state: 'failed' }], undefined), 2);
  });
});

describe('phaseChange and promoteDeployment', () => {
  const canary = deployment({ phase: 'canary', canaries: 2 });

  test('canary -> paused when the canaries are available; stays otherwise', () => {
    assert.equal(phaseChange(canary, 1, false), undefined);
    assert.deepEqual(phaseChange(canary, 2, false), { to: 'paused' });
    assert.deepEqual(phaseChange(canary, 2, true), { to: 'rolling', auto: true });
    assert.equal(phaseChange({ ...canary, phase: 'paused' }, 0, false), undefined, 'paused is sticky');
  });

  test('promotion is honoured once the canaries are available', () => {
    const early = { ...canary, promoted: true };
    assert.equal(phaseChange(early, 1, false), undefined);
    assert.deepEqual(phaseChange(early, 2, false), { to: 'rolling', auto: false });
    assert.deepEqual(phaseChange({ ...early, phase: 'paused' }, 0, false), { to: 'rolling', auto: false });
    assert.equal(phaseChange({ ...early, phase: 'rolling' }, 2, false), undefined);
    assert.equal(phaseChange({ ...early, state: 'failed' }, 2, false), undefined);
  });

  test('promoteDeployment sets promoted, refuses what has nothing to promote', () => {
    const r = promoteDeployment({ ...canary, phase: 'paused' }, NOW);
    assert.ok(r.ok);
    assert.equal(r.changed, true);
    assert.equal(r.deployment.promoted, true);
    assert.equal(r.deployment.updatedAt, NOW);
    const again = promoteDeployment(r.deployment, NOW + 1);
    assert.ok(again.ok);
    assert.equal(again.changed, false);
    assert.deepEqual(promoteDeployment(undefined, NOW), {
      ok: false,
      reason: 'the job has no deployment for its current version',
    });
    assert.deepEqual(promoteDeployment(deployment(), NOW), {
      ok: false,
      reason: 'the deployment of v2 has no canaries to promote',
    });
    assert.deepEqual(promoteDeployment({ ...canary, state: 'failed' }, NOW), {
      ok: false,
      reason: 'the deployment of v2 is failed: nothing to promote',
    });
  });

  test('no deadline while paused; after promotion it counts from promotedAt', () => {
    const update = { deadlineMs: 60_000 };
    assert.equal(deadlineOf(canary, update), NOW - 1000 + 60_000);
    assert.equal(deadlineOf({ ...canary, phase: 'paused' }, update), undefined);
    assert.equal(deadlineOf({ ...canary, phase: 'rolling', promotedAt: NOW + 5 }, update), NOW + 5 + 60_000);
  });
});

describe('planRollout in the canary phase', () => {
  const { v1, v2 } = specs({});
  const olds = [1, 2, 3, 4].map((i) => runningTask(v1, { id: `o${i}`, createdAt: i }));
  const available = () => true;
  const room = (maxSurge: number, maxUnavailable: number, canaries: number) =>
    planRollout({
      budget: rolloutBudget(4, { maxSurge, maxUnavailable }),
      current: [],
      old: olds,
      available,
      frozen: false,
      currentCap: canaries,
      oldTasks: 'room',
    });

  test('canaries surge: no old task stops while maxSurge leaves room', () => {
    assert.deepEqual(room(2, 1, 2).stop, []);
    assert.equal(room(2, 1, 2).create, 2);
  });

  test('an old task stops for a canary only when the surge leaves no room, and within the budget', () => {
    const r = room(1, 1, 3);
    assert.deepEqual(
      r.stop.map((s) => [s.task.id, s.why]),
      [['o4', 'canary-room']],
    );
    assert.equal(r.create, 2, 'two canaries now (5 with desired run), the third waits');
    const none = room(0, 1, 1);
    assert.equal(none.stop.length, 1);
    assert.equal(none.create, 1);
  });

  test('the canaries never exceed their number', () => {
    const r = planRollout({
      budget: rolloutBudget(4, { maxSurge: 4, maxUnavailable: 1 }),
      current: [runningTask(v2, { id: 'n1', version: 2 })],
      old: olds,
      available,
      frozen: false,
      currentCap: 1,
      oldTasks: 'room',
    });
    assert.deepEqual(r, { stop: [], create: 0, available: 5, running: 5 });
  });
});

describe('one pass', () => {
  const { v1, v2 } = specs({ canary: 1, maxSurge: 1, maxUnavailable: 1 });
  const versions = [
    { name: 'web', version: 1, spec: v1, createdAt: 0 },
    { name: 'web', version: 2, spec: v2, createdAt: 0 },
  ];
  const olds = [1, 2, 3, 4].map((i) => runningTask(v1, { id: `o${i}`, createdAt: i }));
  const base = {
    job: jobRecord(v2, 2),
    versions,
    hosts: [hostView('h1')],
    now: NOW,
    newTaskId: ids(),
    otherDeployments: [deployment({ version: 1, state: 'succeeded' })],
  };

  test('a new version starts its canaries and nothing else', () => {
    const plan = reconcile({ ...base, tasks: olds, deployment: undefined });
    assert.equal(plan.create.length, 1);
    assert.deepEqual(plan.stop, []);
    assert.equal(plan.deployment?.phase, 'canary');
    assert.equal(plan.deployment?.canaries, 1);
    assert.equal(
      plan.deployment?.message,
      'canary: 0/1 canary of v2 available (1 placed, 0 running), 4 old serving',
    );
    assert.match(
      plan.events.find((e) => e.kind === 'deployment.started')?.message ?? '',
      /1 canary first, then waits for promotion$/,
    );
  });

  test('available canaries pause the deployment; promoted, it rolls on', () => {
    const canary = runningTask(v2, { id: 'c1', version: 2, createdAt: 9 }, 0);
    const d = deployment({ phase: 'canary', canaries: 1, placed: 1, running: 1, old: 4 });
    const paused = reconcile({ ...base, tasks: [...olds, canary], deployment: d });
    assert.equal(paused.deployment?.phase, 'paused');
    assert.deepEqual(paused.create, []);
    assert.deepEqual(paused.stop, []);
    assert.equal(paused.wakeAt, undefined, 'no deadline while paused');
    assert.ok(paused.events.some((e) => e.kind === 'deployment.paused'));
    const again = reconcile({ ...base, tasks: [...olds, canary], deployment: paused.deployment });
    assert.ok(isEmptyPlan(again));

    assert.ok(paused.deployment);
    const promoted = { ...paused.deployment, promoted: true };
    const rolling = reconcile({ ...base, tasks: [...olds, canary], deployment: promoted });
    assert.equal(rolling.deployment?.phase, 'rolling');
    assert.equal(rolling.deployment?.promotedAt, NOW);
    assert.equal(rolling.deployment?.promoted, true);
    assert.equal(rolling.stop.length, 2, '5 available: two old tasks may go');
    assert.equal(rolling.create.length, 2);
    assert.equal(rolling.wakeAt, NOW + v2.update.deadlineMs, 'the deadline counts from the promotion');
    assert.ok(
      rolling.events.some((e) => e.kind === 'deployment.promoted' && e.message.includes('on request')),
    );
  });

  test('a crash-looping canary fails the deployment, and it rolls back', () => {
    const bad = runningTask(v2, { id: 'c1', version: 2 }, 0, {
      state: 'starting',
      healthy: false,
      restarts: 3,
    });
    const d = deployment({ phase: 'canary', canaries: 1 });
    const plan = reconcile({ ...base, tasks: [...olds, bad], deployment: d });
    assert.equal(plan.deployment?.state, 'failed');
    assert.equal(plan.rollbackTo, 1);
  });
});

// ---------------------------------------------------------------------------------------------
// Scenarios.

function budgetKept(s: StepRecord): void {
  assert.ok(
    s.afterPlan.run <= Math.max(s.before.run, s.budget.maxRun),
    `step ${s.step}: run ${s.afterPlan.run}`,
  );
  assert.ok(
    s.afterPlan.available >= Math.min(s.before.available, s.budget.minAvailable),
    `step ${s.step}: available ${s.before.available} -> ${s.afterPlan.available}`,
  );
}

function start(spec: JobSpec, agent: Simulator['agent'] = {}): Simulator {
  const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2')], agent });
  assert.ok(sim.run(30).settled);
  assert.equal(sim.deployments.get(1)?.state, 'succeeded');
  return sim;
}

function byVersion(sim: Simulator): Record<number, number> {
  const out: Record<number, number> = {};
  for (const t of sim.jobTasks()) if (t.desired === 'run') out[t.version] = (out[t.version] ?? 0) + 1;
  return out;
}

describe('canaries in the simulator', () => {
  const update = { canary: 2, maxSurge: 1, maxUnavailable: 1, minHealthyMs: 2000, deadlineMs: 30_000 };

  test('the deployment pauses with its canaries until promoted (no deadline meanwhile), then completes', () => {
    const { v1, v2 } = specs(update, 5);
    const sim = start(v1);
    sim.deploy(v2);
    const r = sim.run(30, budgetKept);
    assert.ok(r.settled, 'settles, paused');
    const d = sim.deployments.get(2);
    assert.equal(d?.state, 'in-progress');
    assert.equal(d?.phase, 'paused');
    assert.deepEqual(byVersion(sim), { 1: 4, 2: 2 }, 'one old task made room (maxSurge 1)');
    // far past the deadline, still paused
    for (let i = 0; i < 40; i++) budgetKept(sim.step(i));
    assert.equal(sim.deployments.get(2)?.state, 'in-progress');
    assert.ok(sim.now > (d?.startedAt ?? 0) + update.deadlineMs);

    assert.ok(sim.promote());
    const done = sim.run(60, budgetKept);
    assert.ok(done.settled);
    assert.equal(sim.deployments.get(2)?.state, 'succeeded');
    assert.deepEqual(byVersion(sim), { 2: 5 });
    assert.ok(sim.events.some((e) => e.kind === 'deployment.paused'));
    assert.ok(sim.events.some((e) => e.kind === 'deployment.promoted'));
  });

  test('autoPromote: the rollout goes on as soon as the canaries are available', () => {
    const { v1, v2 } = specs({ ...update, autoPromote: true }, 5);
    const sim = start(v1);
    sim.deploy(v2);
    let pausedSteps = 0;
    let sawCanary = false;
    const r = sim.run(60, (s) => {
      budgetKept(s);
      const d = sim.deployments.get(2);
      if (d?.phase === 'paused') pausedSteps++;
      if (d?.phase === 'canary') {
        sawCanary = true;
        assert.ok((byVersion(sim)[2] ?? 0) <= 2, 'no more than the canaries before promotion');
      }
    });
    assert.ok(r.settled);
    assert.ok(sawCanary);
    assert.equal(pausedSteps, 0);
    assert.equal(sim.deployments.get(2)?.state, 'succeeded');
    assert.match(
      sim.events.find((e) => e.kind === 'deployment.promoted')?.message ?? '',
      /promoted \(autoPromote\)/,
    );
  });

  test('a bad canary fails the deployment and rolls back; the rollback has no canary phase', () => {
    const { v1, v2 } = specs(update, 4);
    const bad = { ...v2, task: { ...v2.task, command: ['bad'] } };
    const sim = start(v1, { crashes: (t) => t.spec.command[0] === 'bad' });
    sim.deploy(bad);
    const r = sim.run(60, (s) => {
      budgetKept(s);
      const serving = sim.jobTasks().filter((t) => t.spec.command[0] !== 'bad' && t.desired === 'run');
      assert.ok(serving.length >= 3, `step ${s.step}: the old tasks keep serving`);
    });
    assert.ok(r.settled);
    const d2 = sim.deployments.get(2);
    assert.equal(d2?.state, 'failed');
    assert.equal(d2?.phase, 'canary');
    assert.equal(sim.job.version, 3);
    const d3 = sim.deployments.get(3);
    assert.equal(d3?.state, 'succeeded');
    assert.equal(d3?.phase, undefined, 'a rollback to a known-good spec is not canaried');
    const tasks = sim.jobTasks();
    assert.equal(tasks.length, 4);
    for (const t of tasks) assert.deepEqual(t.spec, v1.task);
  });

  test('canaries that never get healthy fail at the deadline', () => {
    const { v1, v2 } = specs({ ...update, autoRollback: false }, 3);
    const sim = start(v1, { startSteps: (t) => (t.version === 2 ? 1000 : 1) });
    sim.deploy(v2);
    for (let i = 0; i < 40; i++) budgetKept(sim.step(i)); // the canaries keep starting: never settles
    const d2 = sim.deployments.get(2);
    assert.equal(d2?.state, 'failed');
    assert.equal(d2?.message, 'canaries not available within the deadline of 30s: 0/2 of v2 available');
  });

  test('canary >= replicas: every new task is a canary, and promotion is still required', () => {
    const { v1, v2 } = specs({ ...update, canary: 10, maxSurge: 0 }, 3);
    const sim = start(v1);
    sim.deploy(v2);
    assert.ok(sim.run(60, budgetKept).settled);
    const d = sim.deployments.get(2);
    assert.equal(d?.phase, 'paused');
    assert.equal(d?.canaries, 3);
    assert.equal(d?.state, 'in-progress', 'not succeeded without promotion');
    assert.deepEqual(byVersion(sim), { 2: 3 }, 'maxSurge 0: old tasks made room, within the budget');
    sim.promote();
    assert.ok(sim.run(20, budgetKept).settled);
    assert.equal(sim.deployments.get(2)?.state, 'succeeded');
  });

  test('a promotion given before the canaries are available is remembered', () => {
    const { v1, v2 } = specs(update, 3);
    const sim = start(v1);
    sim.deploy(v2);
    sim.step(0);
    assert.equal(sim.deployments.get(2)?.phase, 'canary');
    assert.ok(sim.promote());
    assert.ok(sim.run(60, budgetKept).settled);
    assert.equal(sim.deployments.get(2)?.state, 'succeeded');
    assert.ok(!sim.events.some((e) => e.kind === 'deployment.paused'));
  });
});

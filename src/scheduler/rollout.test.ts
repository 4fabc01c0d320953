/** Rollouts played out end to end in the simulator: plan, apply, agent step, again. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { JobSpec } from '../model/index.ts';
import { jobSpec, simHost } from './fixtures.ts';
import { isEmptyPlan } from './index.ts';
import { Simulator, type StepRecord } from './simulator.ts';

function converged(sim: Simulator, replicas: number, version: number): void {
  const tasks = [...sim.tasks.values()];
  assert.equal(tasks.length, replicas, 'exactly replicas tasks remain');
  for (const t of tasks) {
    assert.equal(t.desired, 'run');
    assert.deepEqual(t.spec, sim.versions.find((v) => v.version === version)?.spec.task);
    assert.equal(sim.statuses.get(t.id)?.state, 'running');
  }
  const plan = sim.reconcile();
  assert.ok(isEmptyPlan(plan), `plan after convergence is empty: ${JSON.stringify(plan)}`);
  assert.deepEqual(plan.events, []);
}

/** Idempotence at every step: the same input gives the same plan. */
function sameTwice(sim: Simulator): void {
  assert.deepEqual(sim.reconcile(), sim.reconcile());
}

function startV1(spec: JobSpec, hosts = [simHost('h1')], agent: Simulator['agent'] = {}): Simulator {
  const sim = new Simulator({ spec, hosts, agent });
  const r = sim.run(50);
  assert.ok(r.settled, 'v1 settles');
  converged(sim, spec.replicas, 1);
  assert.equal(sim.deployments.get(1)?.state, 'succeeded');
  return sim;
}

describe('rolling update', () => {
  test('v1 -> v2, 5 replicas, maxUnavailable 1, maxSurge 1: never below 4 available nor above 6 running', () => {
    const update = { maxUnavailable: 1, maxSurge: 1, minHealthyMs: 2000 };
    const sim = startV1(jobSpec({ replicas: 5, update }));
    sim.deploy(jobSpec({ replicas: 5, command: ['serve', '--v2'], update }));
    let minAvailable = Infinity;
    let maxRun = 0;
    const r = sim.run(100, (s) => {
      for (const snap of [s.before, s.afterPlan, s.afterAgent]) {
        assert.ok(snap.available >= 4, `step ${s.step}: ${snap.available} available`);
        assert.ok(snap.run <= 6, `step ${s.step}: ${snap.run} with desired run`);
        minAvailable = Math.min(minAvailable, snap.available);
        maxRun = Math.max(maxRun, snap.run);
      }
    });
    assert.ok(r.settled);
    converged(sim, 5, 2);
    // the budget is used, not just respected
    assert.equal(minAvailable, 4);
    assert.equal(maxRun, 6);
    const d = sim.deployments.get(2);
    assert.equal(d?.state, 'succeeded');
    assert.equal(d?.fromVersion, 1);
    assert.deepEqual([d?.healthy, d?.old, d?.placed], [5, 0, 5]);
    assert.ok(sim.events.some((e) => e.kind === 'deployment.progress'));
  });

  test('maxSurge 0 progresses: one old stopped, then its replacement started', () => {
    const update = { maxUnavailable: 1, maxSurge: 0 };
    const sim = startV1(jobSpec({ replicas: 3, update }));
    sim.deploy(jobSpec({ replicas: 3, command: ['v2'], update }));
    const r = sim.run(60, (s) => {
      assert.ok(s.afterPlan.run <= 3, `step ${s.step}: ${s.afterPlan.run} running`);
      assert.ok(s.afterPlan.available >= 2);
    });
    assert.ok(r.settled);
    converged(sim, 3, 2);
  });

  test('maxSurge 0 on a host with room for exactly the replicas', () => {
    const update = { maxUnavailable: 1, maxSurge: 0 };
    const spec = jobSpec({ replicas: 3, update, cpu: 1 });
    const sim = startV1(spec, [simHost('h1', { cpu: 3 })]);
    sim.deploy({ ...spec, task: { ...spec.task, command: ['v2'] } });
    const r = sim.run(60);
    assert.ok(r.settled);
    converged(sim, 3, 2);
    assert.ok(
      sim.events.some((e) => e.kind === 'task.unplaceable'),
      'replacements wait for the old task to go',
    );
    assert.ok(sim.events.some((e) => e.kind === 'task.placed'));
  });

  test('plans are idempotent at every step', () => {
    const update = { maxUnavailable: 2, maxSurge: 2, minHealthyMs: 1500 };
    const sim = startV1(jobSpec({ replicas: 4, update }));
    sim.deploy(jobSpec({ replicas: 4, command: ['v2'], update }));
    const r = sim.run(60, () => sameTwice(sim));
    assert.ok(r.settled);
  });

  test('a newer version during a rollout supersedes it and converges to the newest', () => {
    const update = { maxUnavailable: 1, maxSurge: 1, minHealthyMs: 3000 };
    const sim = startV1(jobSpec({ replicas: 4, update }));
    sim.deploy(jobSpec({ replicas: 4, command: ['v2'], update }));
    sim.run(3);
    assert.equal(sim.deployments.get(2)?.state, 'in-progress');
    sim.deploy(jobSpec({ replicas: 4, command: ['v3'], update }));
    const r = sim.run(100, (s) => {
      assert.ok(s.afterPlan.run <= 5);
      assert.ok(s.afterPlan.available >= Math.min(3, s.before.available));
    });
    assert.ok(r.settled);
    converged(sim, 4, 3);
    assert.equal(sim.deployments.get(2)?.state, 'superseded');
    assert.equal(sim.deployments.get(3)?.state, 'succeeded');
  });
});

describe('scaling in the simulator', () => {
  test('scale up and down keep the running tasks', () => {
    const spec = jobSpec({ replicas: 2 });
    const sim = startV1(spec);
    const firstIds = [...sim.tasks.keys()].sort();
    sim.deploy({ ...spec, replicas: 5 });
    assert.ok(sim.run(30).settled);
    converged(sim, 5, 2);
    for (const id of firstIds) assert.ok(sim.tasks.has(id), 'scale up keeps existing tasks');
    sim.deploy({ ...spec, replicas: 1 });
    assert.ok(sim.run(30).settled);
    converged(sim, 1, 3);
    assert.equal(sim.deployments.get(3)?.state, 'succeeded');
  });
});

describe('stop', () => {
  test('a stopped job ends with no tasks and an empty plan', () => {
    const sim = startV1(jobSpec({ replicas: 3 }));
    sim.stopJob();
    const r = sim.run(20);
    assert.ok(r.settled);
    assert.equal(sim.tasks.size, 0);
    assert.ok(isEmptyPlan(sim.reconcile()));
  });

  test('stopping during a rollout stops its deployment', () => {
    const sim = startV1(jobSpec({ replicas: 3 }));
    sim.deploy(jobSpec({ replicas: 3, command: ['v2'] }));
    sim.run(1);
    sim.stopJob();
    assert.ok(sim.run(20).settled);
    assert.equal(sim.tasks.size, 0);
    assert.equal(sim.deployments.get(2)?.state, 'stopped');
  });
});

describe('host loss', () => {
  test('tasks of a down host are replaced on the others', () => {
    const sim = startV1(jobSpec({ replicas: 4 }), [simHost('h1'), simHost('h2')]);
    const onH2 = [...sim.tasks.values()].filter((t) => t.host === 'h2').map((t) => t.id);
    assert.equal(onH2.length, 2, 'spread over both hosts');
    sim.hosts.set('h2', { ...sim.hosts.get('h2')!, state: 'down' });
    assert.ok(sim.run(20).settled);
    converged(sim, 4, 1);
    for (const t of sim.tasks.values()) assert.equal(t.host, 'h1');
    for (const id of onH2) assert.ok(sim.events.some((e) => e.kind === 'task.lost' && e.task === id));
  });
});

describe('failure and rollback', () => {
  const update = { maxUnavailable: 1, maxSurge: 1, deadlineMs: 20_000 };

  test('a crash-looping version fails and rolls back to the last good one', () => {
    const v1 = jobSpec({ replicas: 4, update });
    const v2 = jobSpec({ replicas: 4, command: ['bad'], update });
    const sim = startV1(v1, [simHost('h1')], { crashes: (t) => t.spec.command[0] === 'bad' });
    sim.deploy(v2);
    const r = sim.run(60, (s) => {
      assert.ok(s.afterPlan.available >= Math.min(3, s.before.available), `step ${s.step}`);
      assert.ok(s.afterPlan.run <= 5);
    });
    assert.ok(r.settled);
    assert.equal(sim.deployments.get(2)?.state, 'failed');
    assert.match(
      sim.deployments.get(2)?.message ?? '',
      /^task \S+ (failed|is crash-looping: \d+ restarts, not healthy) \(Exited, exit code 1\)/,
    );
    assert.equal(sim.job.version, 3);
    assert.deepEqual(sim.job.spec, v1);
    assert.equal(sim.deployments.get(3)?.state, 'succeeded');
    converged(sim, 4, 3);
    assert.ok(sim.events.some((e) => e.kind === 'job.rollback'));
  });

  test('a version that never becomes healthy fails at its deadline and rolls back (lastGoodVersion given)', () => {
    const v1 = jobSpec({ replicas: 2, update });
    const v2 = jobSpec({ replicas: 2, command: ['slow'], update });
    const sim = new Simulator({
      spec: v1,
      hosts: [simHost('h1')],
      passLastGood: true,
      agent: { startSteps: (t) => (t.spec.command[0] === 'slow' ? 1000 : 1) },
    });
    assert.ok(sim.run(20).settled);
    sim.deploy(v2);
    const deployedAt = sim.now;
    const steps: StepRecord[] = [];
    const r = sim.run(60, (s) => steps.push(s));
    assert.ok(r.settled);
    const d2 = sim.deployments.get(2);
    assert.equal(d2?.state, 'failed');
    assert.ok((d2?.finishedAt ?? 0) >= deployedAt + 20_000);
    assert.ok((d2?.finishedAt ?? 0) <= deployedAt + 21_000);
    assert.match(d2?.message ?? '', /^not finished within its deadline of 20s: 0\/2 tasks of v2 available/);
    assert.deepEqual(sim.job.spec, v1);
    converged(sim, 2, 3);
  });

  test('without autoRollback a failed deployment stays as it is, and the plan empties', () => {
    const noRb = { ...update, autoRollback: false };
    const v1 = jobSpec({ replicas: 4, update: noRb });
    const sim = startV1(v1, [simHost('h1')], { crashes: (t) => t.spec.command[0] === 'bad' });
    sim.deploy(jobSpec({ replicas: 4, command: ['bad'], update: noRb }));
    const r = sim.run(60);
    assert.ok(r.settled);
    assert.equal(sim.deployments.get(2)?.state, 'failed');
    assert.equal(sim.job.version, 2);
    const byVersion = [...sim.tasks.values()].filter((t) => t.desired === 'run').map((t) => t.version);
    assert.ok(byVersion.filter((v) => v === 1).length >= 3, 'old tasks keep serving');
    assert.ok(byVersion.filter((v) => v === 2).length <= 2);
    // later steps change nothing
    for (let i = 0; i < 10; i++) {
      const s = sim.step(i);
      assert.ok(isEmptyPlan(s.plan));
    }
  });
});

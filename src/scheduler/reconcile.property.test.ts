/**
 * Property tests: random replicas, budgets, start delays and failure patterns, played in the
 * simulator. At every step the scheduler's own actions respect the budget; rollouts converge when
 * the new tasks become healthy, and bad versions are rolled back.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { JobSpec } from '../model/index.ts';
import { jobSpec, simHost } from './fixtures.ts';
import { awaitingPromotion, drainProgress, isEmptyPlan } from './index.ts';
import { Simulator, type StepRecord } from './simulator.ts';

const NUM_RUNS = Number(process.env['DABBA_PROPERTY_RUNS'] ?? 150);

/** The invariants of one step, about what the plan alone changed (same instant, before the agent). */
function checkBudget(sim: Simulator, s: StepRecord): void {
  if (sim.job.status === 'stopped') return; // stopping a job stops everything, by design
  // past a drain's deadline what is left on the host stops regardless, by design
  if (s.plan.events.some((e) => e.kind === 'task.drain-forced')) return;
  const { budget, before, afterPlan, plan } = s;
  // new tasks carry the current time (the clock moves on every step); re-placed ones keep theirs
  if (plan.create.some((t) => t.createdAt === s.now)) {
    assert.ok(
      afterPlan.run <= budget.maxRun,
      `step ${s.step}: started tasks with ${afterPlan.run} > ${budget.maxRun} desired run`,
    );
  }
  assert.ok(
    afterPlan.run <= Math.max(before.run, budget.maxRun),
    `step ${s.step}: desired run grew to ${afterPlan.run} (was ${before.run}, max ${budget.maxRun})`,
  );
  assert.ok(
    afterPlan.available >= Math.min(before.available, budget.minAvailable),
    `step ${s.step}: available fell from ${before.available} to ${afterPlan.available} (min ${budget.minAvailable})`,
  );
}

function idNumber(id: string): number {
  return Number(id.replace(/\D/g, '')) || 0;
}

function expectConverged(sim: Simulator, spec: JobSpec): void {
  const tasks = [...sim.tasks.values()];
  assert.equal(tasks.length, spec.replicas);
  for (const t of tasks) {
    assert.deepEqual(t.spec, spec.task);
    assert.equal(t.desired, 'run');
    const s = sim.statuses.get(t.id);
    assert.ok(s?.state === 'running' && s.healthy);
  }
  assert.ok(isEmptyPlan(sim.reconcile()));
}

test('rolling updates respect the budget at every step and converge when new tasks get healthy', () => {
  const scenario = fc.record({
    replicas: fc.integer({ min: 0, max: 8 }),
    maxUnavailable: fc.integer({ min: 0, max: 4 }),
    maxSurge: fc.integer({ min: 0, max: 4 }),
    minHealthySteps: fc.integer({ min: 0, max: 3 }),
    startSteps: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 12 }),
    oldFailures: fc.array(fc.record({ step: fc.nat(10), pick: fc.nat(20) }), { maxLength: 6 }),
    flaps: fc.array(
      fc.record({ step: fc.nat(15), pick: fc.nat(20), steps: fc.integer({ min: 1, max: 4 }) }),
      { maxLength: 5 },
    ),
    hosts: fc.integer({ min: 1, max: 3 }),
    slack: fc.integer({ min: 0, max: 3 }),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      const update = {
        maxUnavailable: p.maxUnavailable,
        maxSurge: p.maxSurge,
        minHealthyMs: p.minHealthySteps * 1000,
        deadlineMs: 1e9,
      };
      const v1 = jobSpec({ replicas: p.replicas, update, cpu: 1 });
      const v2 = { ...v1, task: { ...v1.task, command: ['serve', '--v2'] } };
      // enough room overall (one more when nothing may be unavailable, so a surge task fits)
      const need = p.replicas + p.slack + (p.maxUnavailable === 0 ? 1 : 0);
      const perHost = Math.ceil(need / p.hosts);
      const hosts = Array.from({ length: p.hosts }, (_, i) => simHost(`h${i + 1}`, { cpu: perHost }));
      const sim = new Simulator({
        spec: v1,
        hosts,
        agent: {
          startSteps: (t) =>
            t.version === 1 ? 1 : (p.startSteps[idNumber(t.id) % p.startSteps.length] ?? 1),
        },
      });
      assert.ok(sim.run(30).settled, 'v1 settles');
      sim.deploy(v2);

      const recover = new Map<number, string[]>();
      let settled = false;
      for (let i = 0; i < 300 && !settled; i++) {
        // failure injection: old tasks go unhealthy for good, any task flaps for a while
        for (const f of p.oldFailures.filter((f) => f.step === i)) {
          const olds = [...sim.tasks.values()].filter(
            (t) => t.version === 1 && t.desired === 'run' && sim.statuses.get(t.id)?.state === 'running',
          );
          const t = olds[f.pick % Math.max(1, olds.length)];
          if (t !== undefined)
            sim.setStatus(t.id, { healthy: false, ready: false, reason: 'LivenessFailed' });
        }
        for (const f of p.flaps.filter((f) => f.step === i)) {
          const live = [...sim.tasks.values()].filter(
            (t) => t.desired === 'run' && sim.statuses.get(t.id)?.healthy === true,
          );
          const t = live[f.pick % Math.max(1, live.length)];
          if (t === undefined) continue;
          sim.setStatus(t.id, { healthy: false, ready: false });
          recover.set(i + f.steps, [...(recover.get(i + f.steps) ?? []), t.id]);
        }
        for (const id of recover.get(i) ?? []) {
          if (sim.tasks.get(id)?.version === 2)
            sim.setStatus(id, { healthy: true, ready: true, healthySince: sim.now });
        }

        const input = sim.input();
        const s = sim.step(i);
        // level-triggered: the same input gives the same plan
        assert.deepEqual(s.plan, sim.reconcileInput(input));
        checkBudget(sim, s);
        settled = i > 20 && sim.settled(s.plan);
      }
      assert.ok(settled, 'the rollout converges');
      expectConverged(sim, v2);
      const d = sim.deployments.get(2);
      assert.equal(d?.state, 'succeeded');
      assert.equal(d?.fromVersion, p.replicas > 0 ? 1 : 0, 'replaces v1 (if it had tasks)');
    }),
    { numRuns: NUM_RUNS },
  );
});

test('bad versions fail (crash loop or deadline) and roll back without breaking the budget', () => {
  const scenario = fc.record({
    replicas: fc.integer({ min: 1, max: 6 }),
    maxUnavailable: fc.integer({ min: 0, max: 3 }),
    maxSurge: fc.integer({ min: 0, max: 3 }),
    mode: fc.constantFrom('crash', 'hang'),
    passLastGood: fc.boolean(),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      const update = {
        maxUnavailable: p.maxUnavailable,
        maxSurge: p.maxSurge,
        deadlineMs: 10_000,
        autoRollback: true,
      };
      const v1 = jobSpec({ replicas: p.replicas, update });
      const v2 = { ...v1, task: { ...v1.task, command: ['bad'] } };
      const bad = (t: { spec: JobSpec['task'] }): boolean => t.spec.command[0] === 'bad';
      const sim = new Simulator({
        spec: v1,
        hosts: [simHost('h1')],
        passLastGood: p.passLastGood,
        agent: p.mode === 'crash' ? { crashes: bad } : { startSteps: (t) => (bad(t) ? 10_000 : 1) },
      });
      assert.ok(sim.run(30).settled);
      sim.deploy(v2);
      const r = sim.run(200, (s) => checkBudget(sim, s));
      assert.ok(r.settled, 'settles after the rollback');
      const d2 = sim.deployments.get(2);
      assert.equal(d2?.state, 'failed');
      assert.match(d2?.message ?? '', p.mode === 'crash' ? /failed|crash-looping/ : /deadline/);
      assert.equal(sim.job.version, 3);
      assert.equal(sim.deployments.get(3)?.state, 'succeeded');
      expectConverged(sim, v1);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('random operations (deploy, scale, stop, host loss) keep the budget and end converged', () => {
  const op = fc.oneof(
    fc.record({
      kind: fc.constant('deploy' as const),
      replicas: fc.integer({ min: 0, max: 6 }),
      surge: fc.nat(3),
      unavail: fc.nat(3),
      canary: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 7 })),
      autoPromote: fc.boolean(),
    }),
    fc.record({ kind: fc.constant('scale' as const), replicas: fc.integer({ min: 0, max: 6 }) }),
    fc.record({ kind: fc.constant('stop' as const) }),
    fc.record({ kind: fc.constant('down' as const), host: fc.integer({ min: 1, max: 3 }) }),
    fc.record({ kind: fc.constant('up' as const), host: fc.integer({ min: 1, max: 3 }) }),
    fc.record({
      kind: fc.constant('drain' as const),
      host: fc.integer({ min: 1, max: 3 }),
      deadline: fc.option(fc.integer({ min: 0, max: 8 }), { nil: undefined }),
    }),
    fc.record({ kind: fc.constant('promote' as const) }),
  );
  const scenario = fc.record({
    ops: fc.array(fc.record({ op, steps: fc.nat(6) }), { minLength: 1, maxLength: 6 }),
    minHealthySteps: fc.integer({ min: 0, max: 2 }),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      const update = {
        maxUnavailable: 1,
        maxSurge: 1,
        minHealthyMs: p.minHealthySteps * 1000,
        deadlineMs: 1e9,
      };
      let spec = jobSpec({ replicas: 3, update });
      const sim = new Simulator({ spec, hosts: [simHost('h1'), simHost('h2'), simHost('h3')] });
      let n = 0;
      let stopped = false;
      for (const { op, steps } of p.ops) {
        if (op.kind === 'deploy') {
          spec = {
            ...spec,
            replicas: op.replicas,
            task: { ...spec.task, command: ['serve', `--build=${++n}`] },
            update: {
              ...spec.update,
              maxSurge: op.surge,
              maxUnavailable: op.unavail,
              canary: op.canary,
              autoPromote: op.autoPromote,
            },
          };
          sim.deploy(spec);
          stopped = false;
        } else if (op.kind === 'scale') {
          spec = { ...spec, replicas: op.replicas };
          sim.deploy(spec);
          stopped = false;
        } else if (op.kind === 'stop') {
          sim.stopJob();
          stopped = true;
        } else if (op.kind === 'drain') {
          sim.drain(`h${op.host}`, op.deadline === undefined ? undefined : op.deadline * 1000);
        } else if (op.kind === 'promote') {
          sim.promote();
        } else {
          const id = `h${op.host}`;
          sim.hosts.set(id, { ...sim.hosts.get(id)!, state: op.kind === 'down' ? 'down' : 'ready' });
        }
        for (let i = 0; i < steps; i++) checkBudget(sim, sim.step(i));
      }
      for (const h of sim.hosts.values()) {
        h.state = 'ready';
        delete h.drainDeadline;
      }
      let r = sim.run(200, (s) => checkBudget(sim, s));
      const d = sim.deployments.get(sim.job.version);
      if (r.settled && d !== undefined && awaitingPromotion(d) && d.state === 'in-progress') {
        assert.ok(sim.promote()); // paused for promotion: a human promotes it
        r = sim.run(200, (s) => checkBudget(sim, s));
      }
      assert.ok(r.settled);
      if (stopped) assert.equal(sim.tasks.size, 0);
      else expectConverged(sim, spec);
    }),
    { numRuns: NUM_RUNS },
  );
});

test('drains and canaries keep the budget at every step, and end converged and drained', () => {
  const scenario = fc.record({
    replicas: fc.integer({ min: 1, max: 7 }),
    maxUnavailable: fc.integer({ min: 0, max: 3 }),
    maxSurge: fc.integer({ min: 0, max: 3 }),
    minHealthySteps: fc.integer({ min: 0, max: 2 }),
    hosts: fc.integer({ min: 2, max: 4 }),
    slack: fc.integer({ min: 0, max: 3 }),
    canary: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 8 })),
    autoPromote: fc.boolean(),
    promoteAt: fc.nat(25),
    deployAt: fc.nat(6),
    drainAt: fc.nat(12),
    drainHost: fc.nat(3),
    /** Steps until the drain is forced; undefined: no deadline. */
    drainDeadline: fc.option(fc.nat(15), { nil: undefined }),
    startSteps: fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 8 }),
  });
  fc.assert(
    fc.property(scenario, (p) => {
      const update = {
        maxUnavailable: p.maxUnavailable,
        maxSurge: p.maxSurge,
        minHealthyMs: p.minHealthySteps * 1000,
        deadlineMs: 1e9,
        canary: p.canary,
        autoPromote: p.autoPromote,
      };
      const v1 = jobSpec({ replicas: p.replicas, update, cpu: 1 });
      const v2 = { ...v1, task: { ...v1.task, command: ['serve', '--v2'] } };
      // the hosts left after the drain hold every replica, the surge and the canaries
      const surge = Math.max(p.maxSurge, p.maxUnavailable === 0 ? 1 : 0);
      const need = p.replicas + surge + Math.min(p.canary, p.replicas) + p.slack;
      const perHost = Math.ceil(need / (p.hosts - 1));
      const hosts = Array.from({ length: p.hosts }, (_, i) => simHost(`h${i + 1}`, { cpu: perHost }));
      const sim = new Simulator({
        spec: v1,
        hosts,
        agent: {
          startSteps: (t) =>
            t.version === 1 ? 1 : (p.startSteps[idNumber(t.id) % p.startSteps.length] ?? 1),
        },
      });
      assert.ok(sim.run(30).settled, 'v1 settles');
      const drained = `h${(p.drainHost % p.hosts) + 1}`;

      let settled = false;
      for (let i = 0; i < 300 && !settled; i++) {
        if (i === p.deployAt) sim.deploy(v2);
        if (i === p.drainAt)
          sim.drain(drained, p.drainDeadline === undefined ? undefined : p.drainDeadline * 1000);
        if (i === p.promoteAt) sim.promote(); // early, or while paused
        const input = sim.input();
        const s = sim.step(i);
        assert.deepEqual(s.plan, sim.reconcileInput(input), 'the same input gives the same plan');
        checkBudget(sim, s);
        const d = sim.deployments.get(sim.job.version);
        if (d?.state === 'in-progress' && awaitingPromotion(d)) {
          const current = sim.jobTasks().filter((t) => t.desired === 'run' && t.version === sim.job.version);
          assert.ok(
            current.length <= (d.canaries ?? 0),
            `step ${i}: ${current.length} > ${d.canaries} canaries`,
          );
        }
        settled = i > Math.max(p.deployAt, p.drainAt, p.promoteAt) && sim.settled(s.plan);
        if (settled && d?.state === 'in-progress' && d.phase === 'paused') {
          assert.ok(!p.autoPromote, 'autoPromote never pauses');
          assert.ok(sim.promote()); // paused for promotion: a human promotes it
          settled = false;
        }
      }
      assert.ok(settled, 'converges');
      expectConverged(sim, v2);
      for (const t of sim.tasks.values()) assert.notEqual(t.host, drained);
      assert.equal(drainProgress(sim.hosts.get(drained)!, sim.tasks.values()).state, 'drained');
      assert.equal(sim.deployments.get(2)?.state, 'succeeded');
    }),
    { numRuns: NUM_RUNS },
  );
});

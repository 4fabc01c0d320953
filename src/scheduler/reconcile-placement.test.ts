/** reconcile: placing tasks (reasons and explanations when nothing fits, spread, cordoned hosts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hostView, jobRecord, jobSpec, Mi, runningTask, task } from './fixtures.ts';
import { isEmptyPlan, reconcile } from './index.ts';
import { input, deployment } from './reconcile-fixtures.ts';

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
});

describe('placement', () => {
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

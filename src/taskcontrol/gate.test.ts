import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Task } from '../model/index.ts';
import type { ReconcilePlan } from '../scheduler/index.ts';
import { gatePlan } from './gate.ts';

function newTask(id: string): Task {
  return {
    id,
    job: 'j',
    version: 2,
    host: 'h9',
    desired: 'run',
    spec: {
      command: ['sleep', '1'],
      env: {},
      resources: { cpu: 0.1, memoryBytes: 1 << 20, pids: 8 },
      ports: [],
      health: {},
      restart: { policy: 'always', initialBackoffMs: 100, maxBackoffMs: 1000 },
      stopGracePeriodMs: 1000,
    },
    createdAt: 0,
  };
}

function plan(): ReconcilePlan {
  return {
    create: [newTask('j-new1'), newTask('j-new2')],
    stop: ['j-a', 'j-b', 'j-c'],
    remove: [],
    deployment: undefined,
    supersede: [],
    events: [
      { kind: 'task.stopping', message: 'stopping a', task: 'j-a' },
      { kind: 'task.stopping', message: 'stopping b', task: 'j-b' },
      { kind: 'task.created', message: 'created new2', task: 'j-new2' },
    ],
    disruptions: [
      { task: 'j-a', host: 'h1', op: 'replace', why: 'replaced by v2' },
      { task: 'j-b', host: 'h2', op: 'move', why: 'host h2 is draining', deadline: 5000 },
    ],
  };
}

test('stops not acknowledged wait; acknowledged ones and those at their deadline go', () => {
  const held = gatePlan(plan(), new Set(), 1000);
  assert.deepEqual(held.plan.stop, ['j-c'], 'j-c is no disruption (e.g. the job stops): never held');
  assert.deepEqual(
    held.held.map((o) => o.id),
    ['replace:j-a', 'move:j-b'],
  );
  assert.equal(held.plan.wakeAt, 5000, 'woken at the deadline');
  assert.ok(!held.plan.events.some((e) => e.task === 'j-a' || e.task === 'j-b'));

  const acked = gatePlan(plan(), new Set(['replace:j-a']), 1000);
  assert.deepEqual(acked.plan.stop, ['j-a', 'j-c']);
  assert.deepEqual(acked.proceeding, ['replace:j-a']);

  const due = gatePlan(plan(), new Set(), 5000);
  assert.deepEqual(due.plan.stop, ['j-b', 'j-c']);
  assert.deepEqual(due.proceeding, ['move:j-b']);
});

test('new tasks started in place of held stops stay within replicas + maxSurge', () => {
  const room = { existing: new Set(['j-a', 'j-b', 'j-c']), live: 3, max: 3 };
  const r = gatePlan(plan(), new Set(), 1000, room);
  // live 3, j-c stops -> 2, one new fits, the second would make 4.
  assert.deepEqual(
    r.plan.create.map((t) => t.id),
    ['j-new1'],
  );
  assert.ok(!r.plan.events.some((e) => e.task === 'j-new2'), 'no event for the task not created');
  const all = gatePlan(plan(), new Set(['replace:j-a', 'move:j-b']), 1000, room);
  assert.equal(all.plan.create.length, 2, 'nothing held: the plan is untouched');
});

test('a held stop keeps the deployment from being marked succeeded', () => {
  const p = plan();
  p.deployment = {
    job: 'j',
    version: 2,
    fromVersion: 1,
    state: 'succeeded',
  } as unknown as ReconcilePlan['deployment'];
  assert.equal(gatePlan(p, new Set(), 1000).plan.deployment, undefined);
  assert.notEqual(gatePlan(p, new Set(['replace:j-a', 'move:j-b']), 1000).plan.deployment, undefined);
});

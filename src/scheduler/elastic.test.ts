/** Elastic compute, pure: the schedule, loans and recalls, and the hosts a pool's job sees. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ScalingSpec } from '../model/index.ts';
import {
  effectivePool,
  hostsForPool,
  nextScheduleChange,
  planLoans,
  scheduledReplicas,
  type Loan,
  type LoanHost,
} from './elastic.ts';
import { hostView, ids, jobRecord, jobSpec, runningTask } from './fixtures.ts';
import { reconcile } from './reconcile.ts';

const H = 60 * 60 * 1000;
const DAY0 = Date.UTC(2026, 11, 6);
const scaling: ScalingSpec = {
  minReplicas: 1,
  maxReplicas: 4,
  schedule: [
    { at: 7 * 60, replicas: 6 },
    { at: 22 * 60, replicas: 0 },
  ],
};

test('replicas follow the daily schedule (UTC, wrapping at midnight), within the bounds', () => {
  assert.equal(scheduledReplicas(3, scaling, DAY0 + 8 * H), 4, 'capped at maxReplicas');
  assert.equal(scheduledReplicas(3, scaling, DAY0 + 23 * H), 1, 'raised to minReplicas');
  assert.equal(
    scheduledReplicas(3, scaling, DAY0 + 3 * H),
    1,
    'before the first entry: the last one of the day',
  );
  assert.equal(scheduledReplicas(3, undefined, DAY0), 3);
  assert.equal(scheduledReplicas(9, { minReplicas: 1, maxReplicas: 4, schedule: [] }, DAY0), 4);
  assert.equal(nextScheduleChange(scaling, DAY0 + 8 * H), DAY0 + 22 * H);
  assert.equal(nextScheduleChange(scaling, DAY0 + 23 * H), DAY0 + 24 * H + 7 * H);
});

test('a succeeded service scaled down by its schedule stops its surplus tasks', () => {
  const spec = jobSpec({ replicas: 3 });
  const tasks = ['a', 'b', 'c'].map((id) => runningTask(spec, { id }));
  const job = jobRecord({
    ...spec,
    replicas: scheduledReplicas(3, { ...scaling, minReplicas: 1 }, DAY0 + 23 * H),
  });
  const plan = reconcile({
    job,
    versions: [],
    tasks,
    hosts: [hostView('h1')],
    deployment: {
      job: 'web',
      version: 1,
      fromVersion: 0,
      state: 'succeeded',
      desired: 3,
      placed: 3,
      running: 3,
      healthy: 3,
      old: 0,
      message: '',
      startedAt: 0,
      updatedAt: 0,
    },
    now: DAY0 + 23 * H,
    newTaskId: ids(),
  });
  assert.equal(plan.stop.length, 2);
});

function host(id: string, o: Partial<LoanHost> = {}): LoanHost {
  return { id, labels: {}, state: 'ready', serviceTasks: 0, batchTasks: 0, ...o };
}

test('empty online hosts are loaned to batch while batch tasks wait and no online task does; other pools and busy hosts are not', () => {
  const plan = planLoans({
    hosts: [
      host('h1'),
      host('h2', { serviceTasks: 1 }),
      host('h3', { labels: { pool: 'gpu' } }),
      host('h4', { state: 'cordoned' }),
    ],
    loans: [],
    onlineWaiting: 0,
    batchWaiting: 1,
    now: 5,
  });
  assert.deepEqual(plan.lend, [{ host: 'h1', from: 'online', holder: 'batch', start: 5 }]);
  assert.deepEqual(
    planLoans({ hosts: [host('h1')], loans: [], onlineWaiting: 1, batchWaiting: 1, now: 5 }).lend,
    [],
  );
  // Nothing is loaned while no batch-pool task waits for a host.
  assert.deepEqual(
    planLoans({ hosts: [host('h1')], loans: [], onlineWaiting: 0, batchWaiting: 0, now: 5 }).lend,
    [],
  );
});

test('waiting online tasks recall loans, fewest batch tasks first, and a recall ends once its host is empty', () => {
  const loans: Loan[] = [
    { host: 'h1', from: 'online', holder: 'batch', start: 1 },
    { host: 'h2', from: 'online', holder: 'batch', start: 2 },
  ];
  const hosts = [host('h1', { batchTasks: 3 }), host('h2', { batchTasks: 1 })];
  const plan = planLoans({
    hosts,
    loans,
    onlineWaiting: 1,
    batchWaiting: 1,
    now: 100,
    recallWithinMs: 60_000,
  });
  assert.deepEqual(
    plan.recall.map((l) => [l.host, l.recall?.deadline]),
    [['h2', 60_100]],
  );
  const recalled = plan.recall[0]!;
  // While it is recalled, its host counts in online again; the other loan stays with batch.
  assert.equal(effectivePool({ labels: {} }, recalled), 'online');
  assert.equal(effectivePool({ labels: {} }, loans[0]), 'batch');
  // Still one waiting: the recall in flight covers it, nothing more is recalled.
  const again = planLoans({
    hosts,
    loans: [loans[0]!, recalled],
    onlineWaiting: 1,
    batchWaiting: 1,
    now: 200,
  });
  assert.deepEqual(again.recall, []);
  assert.deepEqual(again.end, []);
  const done = planLoans({
    hosts: [hosts[0]!, host('h2')],
    loans: [loans[0]!, recalled],
    onlineWaiting: 1,
    batchWaiting: 1,
    now: 300,
  });
  assert.deepEqual(done.end, ['h2']);
});

test('a job of a pool sees the hosts of other pools as cordoned (their tasks stay)', () => {
  const hosts = [hostView('h1'), hostView('h2'), { ...hostView('h3'), labels: { pool: 'batch' } }];
  const loans = new Map<string, Loan>([['h2', { host: 'h2', from: 'online', holder: 'batch', start: 0 }]]);
  const batch = hostsForPool(hosts, 'batch', loans)!;
  assert.deepEqual(
    batch.map((h) => h.state),
    ['cordoned', 'ready', 'ready'],
  );
  const online = hostsForPool(hosts, 'online', loans)!;
  assert.deepEqual(
    online.map((h) => h.state),
    ['ready', 'cordoned', 'cordoned'],
  );
  assert.equal(hostsForPool(hosts, undefined, loans), undefined);
});

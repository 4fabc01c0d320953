/** Batch jobs in the pure scheduler: completions, parallelism, retries with backoff, deadline, preemption. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchWorld, batchJob } from './batch-fixtures.ts';
import { retryDelay } from './batch.ts';

test('a batch job starts parallelism tasks, one per completion index, and records its start', () => {
  const w = new BatchWorld(batchJob({ completions: 5, parallelism: 2 }));
  const plan = w.decide();
  assert.equal(plan.create.length, 2);
  assert.deepEqual(
    plan.create.map((t) => t.batch),
    [
      { index: 0, attempt: 1 },
      { index: 1, attempt: 1 },
    ],
  );
  assert.ok(plan.create.every((t) => t.host !== null));
  assert.equal(plan.deployment?.state, 'in-progress');
  assert.equal(plan.deployment?.batch?.indexes.length, 5);
  assert.ok(plan.events.some((e) => e.kind === 'batch.started'));
});

test('a run that exits 0 completes its index; the next index starts; the job succeeds when all have', () => {
  const w = new BatchWorld(batchJob({ completions: 3, parallelism: 2 }));
  w.apply(w.decide());
  for (let round = 0; round < 5 && w.deployment?.state === 'in-progress'; round++) {
    for (const t of w.live()) w.exit(t.id, 0);
    w.apply(w.decide());
  }
  assert.equal(w.deployment?.state, 'succeeded');
  assert.equal(w.deployment.batch?.succeeded, 3);
  assert.equal(w.deployment.batch.failed, 0);
  assert.equal(w.tasks.size, 0, 'finished runs leave the store');
  const again = w.decide();
  assert.equal(again.create.length + again.stop.length + again.remove.length, 0);
  assert.equal(again.deployment, undefined, 'a finished record stays as it is');
});

test('a failed run is retried after its backoff, with the next attempt number, and is not counted twice', () => {
  const w = new BatchWorld(batchJob({ completions: 1, parallelism: 1, backoffMs: 1000, retryLimit: 2 }));
  w.apply(w.decide());
  const [first] = w.live();
  assert.ok(first);
  w.exit(first.id, 3);
  // The record is written but the removal is lost (a plan written in parts): no double count.
  w.apply(w.decide(), true);
  const plan = w.decide();
  assert.equal(plan.deployment?.batch?.failed ?? w.deployment?.batch?.failed, 1);
  w.apply(plan);
  assert.equal(w.deployment?.batch?.failed, 1);
  assert.equal(w.live().length, 0, 'the retry waits for its backoff');
  assert.equal(w.deployment.batch.indexes[0]?.retryAt, w.now + retryDelay(w.job.spec.batch!, 1));
  assert.equal(w.decide().wakeAt, w.now + 1000);
  w.now += 1000;
  w.apply(w.decide());
  const [retry] = w.live();
  assert.deepEqual(retry?.batch, { index: 0, attempt: 2 });
  w.exit(retry.id, 0);
  w.apply(w.decide());
  assert.equal(w.deployment?.state, 'succeeded');
  assert.equal(w.deployment.batch?.failed, 1);
  assert.equal(w.deployment.batch.succeeded, 1);
});

test('backoff doubles per failure up to the maximum', () => {
  const spec = batchJob({ backoffMs: 1000, maxBackoffMs: 5000 }).spec.batch!;
  assert.deepEqual(
    [1, 2, 3, 4, 5].map((f) => retryDelay(spec, f)),
    [1000, 2000, 4000, 5000, 5000],
  );
});

test('an index failing more than retries.limit fails the job and stops its other tasks', () => {
  const w = new BatchWorld(batchJob({ completions: 3, parallelism: 2, retryLimit: 1, backoffMs: 10 }));
  w.apply(w.decide());
  let stoppedAtEnd: string[] = [];
  for (let round = 0; round < 20 && w.deployment?.state === 'in-progress'; round++) {
    // Index 0 always fails; index 1 runs on; the others succeed.
    for (const t of w.live()) if (t.batch?.index !== 1) w.exit(t.id, t.batch?.index === 0 ? 1 : 0);
    const plan = w.decide();
    stoppedAtEnd = plan.stop;
    w.apply(plan);
    w.now += 10;
  }
  assert.equal(w.deployment?.state, 'failed');
  assert.match(w.deployment.message, /completion 0 failed 2 times/);
  assert.equal(w.deployment.batch?.failed, 2);
  assert.equal(stoppedAtEnd.length, 1, 'the running task of index 1 is stopped');
  assert.ok(w.live().length === 0, 'nothing of a failed batch job keeps running');
});

test('past its deadline a batch job fails and its running tasks are stopped', () => {
  const w = new BatchWorld(batchJob({ completions: 2, parallelism: 2, deadlineMs: 60_000 }));
  w.apply(w.decide());
  assert.equal(w.decide().wakeAt, w.now + 60_000);
  w.now += 60_000;
  const plan = w.decide();
  assert.equal(plan.stop.length, 2);
  w.apply(plan);
  assert.equal(w.deployment?.state, 'failed');
  assert.match(w.deployment.message, /deadline/);
});

test('parallelism holds when hosts are full: the rest waits unplaced, and is placed when room frees', () => {
  const w = new BatchWorld(batchJob({ completions: 4, parallelism: 3 }), 1, 2);
  w.apply(w.decide());
  const live = w.live();
  assert.equal(live.length, 3);
  assert.equal(live.filter((t) => t.host === null).length, 1);
  const placed = live.find((t) => t.host !== null)!;
  w.exit(placed.id, 0);
  w.apply(w.decide()); // its record goes; its room counts as taken until then
  assert.equal(w.live().length, 3, 'the next index starts');
  w.apply(w.decide());
  assert.equal(w.live().filter((t) => t.host === null).length, 1, 'the waiting one got the room');
  assert.ok(w.live().every((t) => t.batch!.index !== placed.batch!.index));
});

test('a preempted task stops with its reason and its index runs again, not counted as a failure', () => {
  const w = new BatchWorld(batchJob({ completions: 2, parallelism: 2 }));
  w.apply(w.decide());
  const victim = w.live()[0]!;
  w.report(victim.id, { state: 'running' });
  const plan = w.decide(new Map([[victim.id, 'preempted for service web']]));
  assert.deepEqual(plan.stop, [victim.id]);
  assert.equal(plan.preempted?.[victim.id], 'preempted for service web');
  assert.ok(plan.events.some((e) => e.kind === 'task.preempted'));
  // Its index is free again: a new attempt-1 task for it starts in the same pass.
  assert.deepEqual(plan.create.at(-1)?.batch, { index: victim.batch!.index, attempt: 1 });
  w.apply(plan);
  assert.equal(w.deployment?.batch?.preempted, 1);
  assert.equal(w.deployment.batch.failed, 0);
  // The victim exits on SIGTERM: it is desired 'stop', so its exit is not a failure.
  w.exit(victim.id, 143);
  w.report(victim.id, { state: 'stopped', exitCode: 143 });
  w.apply(w.decide());
  assert.equal(w.tasks.has(victim.id), false);
  for (const t of w.live()) w.exit(t.id, 0);
  w.apply(w.decide());
  assert.equal(w.deployment?.state, 'succeeded');
  assert.equal(w.deployment.batch?.failed, 0);
});

test('a new version of a batch job starts a new run and stops the old one', () => {
  const w = new BatchWorld(batchJob({ completions: 2, parallelism: 2 }));
  w.apply(w.decide());
  const old = w.live().map((t) => t.id);
  w.job = { ...w.job, version: 2 };
  const plan = w.decide();
  assert.deepEqual([...plan.stop].sort(), [...old].sort());
  assert.equal(plan.deployment?.version, 2);
});

test('a task placed in a later pass keeps its completion index', () => {
  const w = new BatchWorld(batchJob({ completions: 2, parallelism: 2 }), 1, 1);
  w.apply(w.decide());
  const waiting = w.live().find((t) => t.host === null)!;
  const first = w.live().find((t) => t.host !== null)!;
  w.exit(first.id, 0);
  w.apply(w.decide());
  w.apply(w.decide());
  const placed = w.tasks.get(waiting.id);
  assert.ok(placed?.host !== null, 'placed once room freed');
  assert.deepEqual(placed?.batch, waiting.batch);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Admission } from './admission.ts';

const tick = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('runs at most `limit` at once, in arrival order, and passes failures through', async () => {
  const gate = new Admission(2);
  let now = 0;
  let peak = 0;
  const order: number[] = [];
  const jobs = Array.from({ length: 7 }, (_, i) =>
    gate.run(async () => {
      order.push(i);
      now++;
      peak = Math.max(peak, now);
      await tick(5);
      now--;
      if (i === 3) throw new Error('job 3 failed');
      return i;
    }),
  );
  assert.deepEqual(gate.load, { running: 2, waiting: 5 });
  const results = await Promise.allSettled(jobs);
  assert.equal(peak, 2);
  assert.deepEqual(order, [0, 1, 2, 3, 4, 5, 6]);
  assert.equal(results[3]?.status, 'rejected');
  assert.deepEqual(
    results.filter((r) => r.status === 'fulfilled').map((r) => r.value),
    [0, 1, 2, 4, 5, 6],
  );
  assert.deepEqual(gate.load, { running: 0, waiting: 0 });
});

test('a new arrival cannot overtake one already waiting', async () => {
  const gate = new Admission(1);
  const order: string[] = [];
  const first = gate.run(async () => {
    await tick(5);
    order.push('first');
  });
  const second = gate.run(() => {
    order.push('second');
    return Promise.resolve();
  });
  await first;
  // `first` has released its slot to `second`; a newcomer queues behind it.
  const third = gate.run(() => {
    order.push('third');
    return Promise.resolve();
  });
  await Promise.all([second, third]);
  assert.deepEqual(order, ['first', 'second', 'third']);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { within } from './abort.ts';

const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

test('within: the promise wins, and its timer does not outlive it', async () => {
  const before = timers();
  assert.equal(await within(Promise.resolve(7), 60_000), 7);
  // A race with sleep(60_000) would leave a timer holding the process for a minute.
  assert.equal(timers(), before);
});

test('within: undefined once the time is up; a rejection passes through', async () => {
  assert.equal(await within(new Promise<number>(() => undefined), 10), undefined);
  await assert.rejects(within(Promise.reject(new Error('boom')), 60_000), /boom/);
});

/**
 * The contract for closing a store.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { sleep } from '../../lib/index.ts';
import { withTimeout, type ConformanceContext } from './fixture.ts';

/** What close does to watches and to later calls. */
export function closeTests(c: ConformanceContext): void {
  const { open } = c;
  it('ends watches cleanly, refuses further calls, and may be called again', async (t) => {
    const { store, p, watch } = await open(t);
    await store.put(`${p}a`, '1');
    const w = watch(p);
    await sleep(20);
    await store.close();
    await withTimeout(w.done, 3000, 'close did not end the watch');
    assert.equal(w.error, undefined, 'ended without an error');
    await assert.rejects(store.get(`${p}a`), DabbaError);
    await assert.rejects(store.put(`${p}b`, '1'), DabbaError);
    await store.close();
  });
}

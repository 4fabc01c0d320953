/**
 * The contract for compare-and-swap through txn, under racing writers.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import type { ConformanceContext } from './fixture.ts';

/** Compare-and-swap with concurrent writers: one winner, no lost update. */
export function compareAndSwapTests(c: ConformanceContext): void {
  const { open } = c;
  it('compare-and-swap: of writers racing on one key, exactly one wins each round', async (t) => {
    const { store, p } = await open(t);
    const k = `${p}cas`;
    await store.put(k, 'start');
    for (let round = 0; round < 20; round++) {
      const cur = await store.get(k);
      assert.ok(cur);
      const results = await Promise.all(
        [0, 1, 2, 3].map((w) =>
          store.txn({
            compare: [{ key: k, target: 'mod', op: '=', modRevision: cur.modRevision }],
            success: [{ type: 'put', key: k, value: `${round}-${w}` }],
            failure: [{ type: 'get', key: k }],
          }),
        ),
      );
      const winners = results.flatMap((r, w) => (r.succeeded ? [w] : []));
      assert.equal(winners.length, 1, `round ${round}: winners ${JSON.stringify(winners)}`);
      const after = await store.get(k);
      assert.equal(after?.value, `${round}-${winners[0]}`);
      assert.equal(after?.version, cur.version + 1);
      for (const r of results) {
        if (!r.succeeded) assert.equal(r.gets[0]?.value, after?.value, 'losers see the winner');
      }
    }
  });

  it('compare-and-swap increments from concurrent writers are never lost', async (t) => {
    const { store, p } = await open(t);
    const k = `${p}counter`;
    await store.put(k, '0');
    let conflicts = 0;
    const worker = async (): Promise<void> => {
      for (let done = 0; done < 10;) {
        const cur = await store.get(k);
        assert.ok(cur);
        const res = await store.txn({
          compare: [{ key: k, target: 'mod', op: '=', modRevision: cur.modRevision }],
          success: [{ type: 'put', key: k, value: String(Number(cur.value) + 1) }],
        });
        if (res.succeeded) done++;
        else conflicts++;
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    assert.equal((await store.get(k))?.value, '40');
    assert.equal((await store.get(k))?.version, 41);
    t.diagnostic(`${conflicts} conflicts`);
  });
}

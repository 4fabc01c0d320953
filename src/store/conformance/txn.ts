/**
 * The contract for transactions: limits, compares, branches.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import type { Compare, TxnOp } from '../store.ts';
import { kv, type ConformanceContext } from './fixture.ts';

/** The op limit of a txn and its compares. */
export function txnTests(c: ConformanceContext): void {
  const { open } = c;
  it('takes maxTxnOps operations in one txn; one more is refused with BAD_REQUEST and writes nothing', async (t) => {
    const { store, p } = await open(t);
    const n = store.maxTxnOps;
    assert.ok(Number.isSafeInteger(n) && n >= 100, `maxTxnOps ${n} is a useful size`);
    const puts = (count: number, tag: string): TxnOp[] =>
      Array.from({ length: count }, (_, i) => ({ type: 'put', key: `${p}${tag}/${i}`, value: 'v' }));
    const r = await store.txn({ compare: [], success: puts(n, 'fits') });
    assert.equal(r.succeeded, true);
    assert.equal((await store.range(`${p}fits/`)).kvs.length, n);
    await assert.rejects(
      store.txn({ compare: [], success: puts(n + 1, 'over') }),
      (e: unknown) =>
        e instanceof DabbaError && e.code === 'DABBA_E_BAD_REQUEST' && /at most/.test(e.message),
    );
    assert.equal((await store.range(`${p}over/`)).kvs.length, 0);
  });

  it('compares mod revision, create revision and value; a missing key has revision 0', async (t) => {
    const { store, p } = await open(t);
    const k = `${p}k`;
    const m = `${p}missing`;
    const rc = (await store.put(k, 'v1')).revision;
    await store.put(`${p}other`, 'x');
    const rm = (await store.put(k, 'v2')).revision;
    const cases: [Compare, boolean][] = [
      [{ key: k, target: 'mod', op: '=', modRevision: rm }, true],
      [{ key: k, target: 'mod', op: '=', modRevision: rc }, false],
      [{ key: k, target: 'mod', op: '!=', modRevision: rm }, false],
      [{ key: k, target: 'mod', op: '!=', modRevision: rc }, true],
      [{ key: k, target: 'mod', op: '<', modRevision: rm + 1 }, true],
      [{ key: k, target: 'mod', op: '<', modRevision: rm }, false],
      [{ key: k, target: 'mod', op: '>', modRevision: rm - 1 }, true],
      [{ key: k, target: 'mod', op: '>', modRevision: rm }, false],
      [{ key: k, target: 'create', op: '=', createRevision: rc }, true],
      [{ key: k, target: 'create', op: '=', createRevision: rm }, false],
      [{ key: k, target: 'create', op: '!=', createRevision: rc }, false],
      [{ key: k, target: 'create', op: '<', createRevision: rc + 1 }, true],
      [{ key: k, target: 'create', op: '>', createRevision: rc }, false],
      [{ key: k, target: 'create', op: '>', createRevision: 0 }, true],
      [{ key: k, target: 'value', op: '=', value: 'v2' }, true],
      [{ key: k, target: 'value', op: '=', value: 'v1' }, false],
      [{ key: k, target: 'value', op: '!=', value: 'v1' }, true],
      [{ key: k, target: 'value', op: '!=', value: 'v2' }, false],
      [{ key: m, target: 'mod', op: '=', modRevision: 0 }, true],
      [{ key: m, target: 'create', op: '=', createRevision: 0 }, true],
      [{ key: m, target: 'mod', op: '>', modRevision: 0 }, false],
      [{ key: m, target: 'create', op: '!=', createRevision: 0 }, false],
      // As etcd: comparing the value of a missing key is false, whatever the operator.
      [{ key: m, target: 'value', op: '=', value: '' }, false],
      [{ key: m, target: 'value', op: '!=', value: 'x' }, false],
    ];
    const r = await store.revision();
    for (const [c, expected] of cases) {
      const res = await store.txn({ compare: [c], success: [], failure: [] });
      assert.equal(res.succeeded, expected, `${JSON.stringify(c)} (mod ${rm}, create ${rc})`);
      assert.equal(res.revision, r, 'a txn without writes does not move the revision');
      assert.deepEqual(res.gets, []);
    }
    const yes = cases[0]?.[0];
    const no = cases[1]?.[0];
    assert.ok(yes && no);
    assert.equal((await store.txn({ compare: [yes, yes], success: [] })).succeeded, true);
    assert.equal((await store.txn({ compare: [yes, no], success: [] })).succeeded, false);
    assert.equal((await store.txn({ compare: [], success: [] })).succeeded, true, 'no compares: success');
    assert.equal(await store.revision(), r);
  });
}

/** The branch a txn runs, as one revision. */
export function txnBranchTests(c: ConformanceContext): void {
  const { open } = c;
  it('runs the chosen branch as one revision and returns its gets', async (t) => {
    const { store, p } = await open(t);
    await store.put(`${p}x`, 'a');
    await store.put(`${p}z/1`, '1');
    await store.put(`${p}z/2`, '2');
    const r = await store.revision();
    const request = {
      compare: [{ key: `${p}x`, target: 'value', op: '=', value: 'a' } as const],
      success: [
        { type: 'put', key: `${p}y1`, value: 'b' },
        { type: 'put', key: `${p}y2`, value: 'c' },
        { type: 'delete', key: `${p}x` },
        { type: 'deletePrefix', prefix: `${p}z/` },
        { type: 'get', key: `${p}y1` },
        { type: 'get', key: `${p}missing` },
      ] satisfies TxnOp[],
      failure: [
        { type: 'put', key: `${p}f`, value: 'd' },
        { type: 'get', key: `${p}f` },
      ] satisfies TxnOp[],
    };
    const ok = await store.txn(request);
    assert.equal(ok.succeeded, true);
    assert.equal(ok.revision, r + 1, 'many ops, one revision');
    assert.deepEqual(ok.gets, [kv(`${p}y1`, 'b', r + 1, r + 1, 1), undefined], 'gets see earlier ops');
    assert.deepEqual(
      (await store.range(p)).kvs.map((x) => [x.key, x.modRevision]),
      [
        [`${p}y1`, r + 1],
        [`${p}y2`, r + 1],
      ],
    );

    const failed = await store.txn(request);
    assert.equal(failed.succeeded, false, 'x is gone, so the value compare fails');
    assert.equal(failed.revision, r + 2);
    assert.deepEqual(failed.gets, [kv(`${p}f`, 'd', r + 2, r + 2, 1)]);
    assert.equal(await store.get(`${p}y1`).then((x) => x?.modRevision), r + 1, 'success branch not run');

    const noBranch = await store.txn({ compare: request.compare, success: request.success });
    assert.deepEqual(noBranch, { succeeded: false, revision: r + 2, gets: [] });

    const onlyGets = await store.txn({ compare: [], success: [{ type: 'get', key: `${p}f` }] });
    assert.equal(onlyGets.revision, r + 2, 'reads only: no revision');
    assert.equal(onlyGets.gets[0]?.value, 'd');

    const noop = await store.txn({
      compare: [],
      success: [
        { type: 'delete', key: `${p}nothing` },
        { type: 'deletePrefix', prefix: `${p}nothing/` },
      ],
    });
    assert.equal(noop.revision, r + 2, 'deletes that delete nothing: no revision');
    assert.equal(await store.revision(), r + 2);
  });

  it('puts in a txn update version and keep create revision', async (t) => {
    const { store, p } = await open(t);
    const c = (await store.put(`${p}a`, '1')).revision;
    const res = await store.txn({
      compare: [],
      success: [
        { type: 'put', key: `${p}a`, value: '2' },
        { type: 'get', key: `${p}a` },
      ],
    });
    assert.deepEqual(res.gets[0], kv(`${p}a`, '2', c, c + 1, 2));
  });

  it('commits a bulk txn like any other: compares, branches, one revision', async (t) => {
    const { store, p } = await open(t);
    const r = (await store.put(`${p}job`, 'v1')).revision;
    const plan = (mod: number): Promise<{ succeeded: boolean; revision: number }> =>
      store.txn(
        {
          compare: [{ key: `${p}job`, target: 'mod', op: '=', modRevision: mod }],
          success: [
            { type: 'put', key: `${p}task/1`, value: 'a' },
            { type: 'put', key: `${p}assign/1`, value: 'a' },
          ],
        },
        { bulk: true },
      );
    assert.deepEqual(await plan(r), { succeeded: true, revision: r + 1, gets: [] });
    assert.deepEqual(
      (await store.range(p)).kvs.map((x) => [x.key, x.modRevision]),
      [
        [`${p}assign/1`, r + 1],
        [`${p}job`, r],
        [`${p}task/1`, r + 1],
      ],
    );
    assert.equal((await plan(r - 1)).succeeded, false, 'a stale plan is refused');
    assert.equal(await store.revision(), r + 1);
  });
}

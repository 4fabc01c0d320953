/**
 * The Store conformance suite: every behaviour of the Store interface (store.ts), with etcd's
 * semantics. Every implementation runs this same suite from its own test file:
 *
 *   storeConformance('SqliteStore', async () => { ...; return { store, cleanup } });
 *
 * Each test calls the factory once and cleans up with the returned function (which must also work
 * after the test closed the store itself). The store need not be empty, but nobody else may write to
 * it while the test runs (the tests check that the revision moves by exactly one per write), and the
 * tests write only under a prefix unique to the test. Nothing here depends on one implementation.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { CompactedError, DabbaError, LeaseNotFoundError } from '../errors/index.ts';
import { sleep } from '../lib/index.ts';
import type { Compare, KeyValue, Store, TxnOp, WatchEvent } from './store.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

export interface StoreConformanceOptions {
  /** How long after a lease's TTL its expiry may take to be observed (ms). Default 1,500. */
  leaseExpiryGraceMs?: number;
  /**
   * Run the tests concurrently (each has its own store from the factory). Turn off when the
   * factory's stores share one revision counter (e.g. namespaces of one etcd). Default true.
   */
  concurrency?: boolean;
  /** Writes in the long watch test. Default 2,000. */
  manyWrites?: number;
  /** Per-test timeout (ms). Default 30,000. */
  testTimeoutMs?: number;
}

/** Registers the suite (a node:test describe) for one Store implementation. */
export function storeConformance(
  name: string,
  factory: StoreFactory,
  options: StoreConformanceOptions = {},
): void {
  const grace = options.leaseExpiryGraceMs ?? 1500;
  const manyWrites = options.manyWrites ?? 2000;
  const timeout = options.testTimeoutMs ?? 30_000;
  let seq = 0;

  /** A store for one test, a unique key prefix, and a watch helper that cleans up after itself. */
  async function open(t: TestContext): Promise<Fixture> {
    const { store, cleanup } = await factory();
    t.after(cleanup);
    const p = `conformance-${process.pid}-${Date.now().toString(36)}-${seq++}/`;
    const probes: Probe[] = [];
    t.after(() => {
      for (const probe of probes) probe.abort();
    });
    return {
      store,
      p,
      watch: (prefix, fromRevision) => {
        const probe = new Probe(store, prefix, fromRevision);
        probes.push(probe);
        return probe;
      },
    };
  }

  describe(`Store conformance: ${name}`, { concurrency: options.concurrency ?? true, timeout }, () => {
    describe('keys and revisions', () => {
      it('put bumps the revision by one and keeps create/mod revision and version per key', async (t) => {
        const { store, p } = await open(t);
        const r0 = await store.revision();
        const w1 = await store.put(`${p}a`, '1');
        assert.equal(w1.revision, r0 + 1);
        assert.equal(await store.revision(), r0 + 1);
        assert.deepEqual(await store.get(`${p}a`), kv(`${p}a`, '1', r0 + 1, r0 + 1, 1));

        const w2 = await store.put(`${p}a`, '2');
        assert.equal(w2.revision, r0 + 2);
        assert.deepEqual(await store.get(`${p}a`), kv(`${p}a`, '2', r0 + 1, r0 + 2, 2));

        const w3 = await store.put(`${p}b`, '');
        assert.equal(w3.revision, r0 + 3);
        assert.deepEqual(await store.get(`${p}b`), kv(`${p}b`, '', r0 + 3, r0 + 3, 1));
        assert.deepEqual(await store.get(`${p}a`), kv(`${p}a`, '2', r0 + 1, r0 + 2, 2), 'a untouched');
        assert.equal(await store.revision(), r0 + 3);
      });

      it('get of a missing key is undefined and moves nothing', async (t) => {
        const { store, p } = await open(t);
        const r0 = await store.revision();
        assert.equal(await store.get(`${p}missing`), undefined);
        assert.equal(await store.revision(), r0);
      });

      it('values round-trip exactly (unicode, JSON, large)', async (t) => {
        const { store, p } = await open(t);
        const values = ['{"a":[1,2,{"b":null}]}', 'héllo wörld ✓ 😀', 'x'.repeat(300_000), ' \n\t '];
        for (const [i, v] of values.entries()) await store.put(`${p}${i}`, v);
        for (const [i, v] of values.entries()) assert.equal((await store.get(`${p}${i}`))?.value, v);
      });

      it('delete removes a key in one revision; deleting a missing key moves nothing', async (t) => {
        const { store, p } = await open(t);
        const { revision } = await store.put(`${p}a`, '1');
        await store.put(`${p}b`, '1');
        const d = await store.delete(`${p}a`);
        assert.deepEqual(d, { revision: revision + 2, deleted: 1 });
        assert.equal(await store.get(`${p}a`), undefined);
        assert.ok(await store.get(`${p}b`), 'other keys stay');

        const again = await store.delete(`${p}a`);
        assert.deepEqual(again, { revision: revision + 2, deleted: 0 });
        assert.equal(await store.revision(), revision + 2);

        const re = await store.put(`${p}a`, '2');
        assert.deepEqual(
          await store.get(`${p}a`),
          kv(`${p}a`, '2', re.revision, re.revision, 1),
          'recreated',
        );
      });

      it('range returns the keys under a prefix sorted by UTF-8 bytes, with limit and revision', async (t) => {
        const { store, p } = await open(t);
        const under = ['b', 'a/2', 'a/10', 'a/1', 'a', 'ab', 'a0', 'z', 'é', 'a\u{1F600}', 'a\uFFFD'];
        for (const k of under) await store.put(p + k, k);
        await store.put(`${p.slice(0, -1)}0`, 'sibling of the prefix, not under it');
        const bytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

        const all = await store.range(p);
        assert.deepEqual(
          all.kvs.map((x) => x.key),
          under.map((k) => p + k).sort(bytes),
        );
        assert.equal(all.revision, await store.revision());
        assert.equal(all.kvs.find((x) => x.key === `${p}a0`)?.value, 'a0');

        const sub = await store.range(`${p}a/`);
        assert.deepEqual(
          sub.kvs.map((x) => x.key),
          [`${p}a/1`, `${p}a/10`, `${p}a/2`],
        );
        const a = await store.range(`${p}a`);
        assert.deepEqual(
          a.kvs.map((x) => x.key.slice(p.length)),
          ['a', 'a/1', 'a/10', 'a/2', 'a0', 'ab', 'a\uFFFD', 'a\u{1F600}'],
        );

        const limited = await store.range(p, { limit: 3 });
        assert.deepEqual(
          limited.kvs.map((x) => x.key),
          all.kvs.slice(0, 3).map((x) => x.key),
        );
        assert.deepEqual((await store.range(`${p}nothing/`)).kvs, []);
        const full = all.kvs.find((x) => x.key === `${p}b`);
        assert.deepEqual(full, await store.get(`${p}b`), 'range returns the same KeyValue as get');
      });

      it('deletePrefix deletes every key under the prefix in one revision', async (t) => {
        const { store, p } = await open(t);
        for (const k of ['d/1', 'd/2', 'd/3', 'dx', 'e']) await store.put(p + k, k);
        const r = await store.revision();
        assert.deepEqual(await store.deletePrefix(`${p}d/`), { revision: r + 1, deleted: 3 });
        assert.deepEqual(
          (await store.range(p)).kvs.map((x) => x.key),
          [`${p}dx`, `${p}e`],
        );
        assert.deepEqual(await store.deletePrefix(`${p}d/`), { revision: r + 1, deleted: 0 });
        assert.equal(await store.revision(), r + 1);
      });

      it('concurrent writes each get their own revision', async (t) => {
        const { store, p } = await open(t);
        const r0 = await store.revision();
        const n = 100;
        const results = await Promise.all(
          Array.from({ length: n }, (_, i) => store.put(`${p}${i}`, String(i))),
        );
        const revs = results.map((r) => r.revision).sort((a, b) => a - b);
        assert.deepEqual(
          revs,
          Array.from({ length: n }, (_, i) => r0 + 1 + i),
        );
        for (const [i, r] of results.entries()) {
          assert.equal((await store.get(`${p}${i}`))?.modRevision, r.revision);
        }
        assert.equal(await store.revision(), r0 + n);
      });

      it('refuses malformed requests with a DabbaError', async (t) => {
        const { store, p } = await open(t);
        const r0 = await store.revision();
        await assert.rejects(store.put('', 'x'), DabbaError);
        await assert.rejects(store.get(''), DabbaError);
        await assert.rejects(
          store.txn({
            compare: [],
            success: [
              { type: 'put', key: `${p}dup`, value: '1' },
              { type: 'put', key: `${p}dup`, value: '2' },
            ],
          }),
          DabbaError,
          'a txn may not put one key twice',
        );
        assert.equal(await store.get(`${p}dup`), undefined);
        assert.equal(await store.revision(), r0);
      });
    });

    describe('txn', () => {
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
    });

    describe('watch', () => {
      it('from a revision: delivers it and every later event under the prefix, with prevKv', async (t) => {
        const { store, p, watch } = await open(t);
        const r1 = (await store.put(`${p}a`, '1')).revision;
        const r2 = (await store.put(`${p}a`, '2')).revision;
        await store.put(`${p.slice(0, -1)}-other/a`, 'not under the prefix');
        const r3 = (await store.delete(`${p}a`)).revision;
        const r4 = (await store.put(`${p}b`, 'x')).revision;

        const w = watch(p, r1);
        await w.waitForEvents(4);
        const [e1, e2, e3, e4] = w.events;
        assert.deepEqual(e1, { type: 'put', kv: kv(`${p}a`, '1', r1, r1, 1) });
        assert.equal(e1?.prevKv, undefined);
        assert.deepEqual(e2, {
          type: 'put',
          kv: kv(`${p}a`, '2', r1, r2, 2),
          prevKv: kv(`${p}a`, '1', r1, r1, 1),
        });
        assert.equal(e3?.type, 'delete');
        assert.equal(e3?.kv.key, `${p}a`);
        assert.equal(e3?.kv.value, '');
        assert.equal(e3?.kv.modRevision, r3);
        assert.deepEqual(e3?.prevKv, kv(`${p}a`, '2', r1, r2, 2));
        assert.deepEqual(e4, { type: 'put', kv: kv(`${p}b`, 'x', r4, r4, 1) });

        const from2 = watch(p, r2);
        await from2.waitForEvents(3);
        assert.deepEqual(
          from2.events.map((e) => e.kv.modRevision),
          [r2, r3, r4],
        );
        await sleep(50);
        assert.equal(w.events.length, 4, 'nothing more');
      });

      it('without fromRevision: only changes made after the watch started', async (t) => {
        const { store, p, watch } = await open(t);
        await store.put(`${p}old`, '1');
        await store.delete(`${p}old`);
        const before = await store.revision();
        const w = watch(p);
        // The watch is surely established once it reports a write made after it started.
        let i = 0;
        while (w.events.length === 0) {
          assert.ok(i < 200, 'the watch never reported a new write');
          await store.put(`${p}probe`, String(i++));
          await w.waitFor(() => w.events.length > 0, 'a probe event', 50).catch(() => undefined);
        }
        const last = (await store.put(`${p}new`, 'n')).revision;
        await w.waitFor(() => w.events.some((e) => e.kv.key === `${p}new`), 'the new key');
        const revs = w.events.map((e) => e.kv.modRevision);
        assert.ok(
          revs.every((r) => r > before),
          'nothing from before the watch',
        );
        assert.ok(!w.events.some((e) => e.kv.key === `${p}old`));
        const first = revs[0] ?? 0;
        assert.deepEqual(
          revs,
          Array.from({ length: last - first + 1 }, (_, j) => first + j),
          'contiguous from the first event on',
        );
      });

      it('from a future revision: waits for it', async (t) => {
        const { store, p, watch } = await open(t);
        const r = await store.revision();
        const w = watch(p, r + 2);
        await store.put(`${p}a`, '1');
        await store.put(`${p}b`, '2');
        await w.waitForEvents(1);
        await sleep(30);
        assert.deepEqual(
          w.events.map((e) => [e.kv.key, e.kv.modRevision]),
          [[`${p}b`, r + 2]],
        );
      });

      it("a txn's events arrive together in one batch, in op order", async (t) => {
        const { store, p, watch } = await open(t);
        await store.put(`${p}t/x`, '0');
        const w = watch(p, (await store.revision()) + 1);
        const { revision: tr } = await store.txn({
          compare: [],
          success: [
            { type: 'put', key: `${p}t/b`, value: '1' },
            { type: 'put', key: `${p}t/a`, value: '2' },
            { type: 'delete', key: `${p}t/x` },
            { type: 'put', key: `${p}t/c`, value: '3' },
          ],
        });
        const { revision: dr } = await store.deletePrefix(`${p}t/`);
        await w.waitForEvents(7);
        const txnBatches = w.batches.filter((b) => b.some((e) => e.kv.modRevision === tr));
        assert.equal(txnBatches.length, 1, 'one batch holds the whole txn');
        assert.deepEqual(
          txnBatches[0]
            ?.filter((e) => e.kv.modRevision === tr)
            .map((e) => [e.type, e.kv.key.slice(p.length)]),
          [
            ['put', 't/b'],
            ['put', 't/a'],
            ['delete', 't/x'],
            ['put', 't/c'],
          ],
        );
        const delBatches = w.batches.filter((b) => b.some((e) => e.kv.modRevision === dr));
        assert.equal(delBatches.length, 1, 'one batch holds the whole deletePrefix');
        assert.deepEqual(
          delBatches[0]
            ?.filter((e) => e.kv.modRevision === dr)
            .map((e) => [e.type, e.kv.key.slice(p.length), e.prevKv?.value])
            .sort(),
          [
            ['delete', 't/a', '2'],
            ['delete', 't/b', '1'],
            ['delete', 't/c', '3'],
          ],
        );
      });

      it(`delivers every event of ${manyWrites} interleaved writes, in order, none lost or repeated`, async (t) => {
        const { store, p, watch } = await open(t);
        const watched = `${p}w/`;
        const r0 = await store.revision();
        const early = watch(watched, r0 + 1);
        const expected: [string, string, number][] = [];
        let mid: Probe | undefined;
        const wave = 50;
        for (let start = 0; start < manyWrites; start += wave) {
          if (mid === undefined && start >= manyWrites / 2) mid = watch(watched, r0 + 1);
          const ops = Array.from({ length: Math.min(wave, manyWrites - start) }, async (_, j) => {
            const i = start + j;
            // A fifth elsewhere, a fifth under a sibling prefix ("wx" is not under "w/"), the rest watched.
            if (i % 5 === 0 || i % 5 === 1) {
              await store.put(i % 5 === 0 ? `${p}o/${i % 50}` : `${p}wx${i % 7}`, String(i));
              return;
            }
            const key = `${watched}${i % 100}`;
            if (i % 10 === 5) {
              const d = await store.delete(key);
              if (d.deleted === 1) expected.push([key, 'delete', d.revision]);
            } else {
              const { revision } = await store.put(key, String(i));
              expected.push([key, String(i), revision]);
            }
          });
          await Promise.all(ops);
        }
        const late = watch(watched, r0 + 1);
        expected.sort((a, b) => a[2] - b[2]);
        assert.ok(mid);
        for (const [label, w] of [
          ['started before the writes', early],
          ['started during the writes', mid],
          ['started after the writes', late],
        ] as const) {
          await w.waitForEvents(expected.length, 15_000);
          await sleep(20);
          const got = w.events.map((e): [string, string, number] => [
            e.kv.key,
            e.type === 'delete' ? 'delete' : e.kv.value,
            e.kv.modRevision,
          ]);
          assert.equal(got.length, expected.length, `${label}: event count`);
          assert.deepEqual(got, expected, `${label}: events`);
        }
      });

      it('watchers of nested prefixes each get the events under their prefix', async (t) => {
        const { store, p, watch } = await open(t);
        const from = (await store.revision()) + 1;
        const all = watch(p, from);
        const a = watch(`${p}a/`, from);
        const ab = watch(`${p}a/b/`, from);
        const ab2 = watch(`${p}a/b/`, from);
        const exact = watch(`${p}a/b`, from);
        await store.put(`${p}a/b/1`, '1');
        await store.put(`${p}a/2`, '2');
        await store.put(`${p}c`, '3');
        await store.put(`${p}a/b`, 'not under a/b/');
        await all.waitForEvents(4);
        await a.waitForEvents(3);
        await ab.waitForEvents(1);
        await ab2.waitForEvents(1);
        await exact.waitForEvents(2);
        await sleep(30);
        const keys = (w: Probe): string[] => w.events.map((e) => e.kv.key.slice(p.length));
        assert.deepEqual(keys(all), ['a/b/1', 'a/2', 'c', 'a/b']);
        assert.deepEqual(keys(a), ['a/b/1', 'a/2', 'a/b']);
        assert.deepEqual(keys(ab), ['a/b/1']);
        assert.deepEqual(keys(ab2), ['a/b/1']);
        assert.deepEqual(keys(exact), ['a/b/1', 'a/b'], 'a prefix equal to a key matches that key');
      });

      it('ends cleanly when its signal aborts, and when the consumer breaks out', async (t) => {
        const { store, p } = await open(t);
        const { revision } = await store.put(`${p}a`, '1');

        const ac = new AbortController();
        let batches = 0;
        const loop = (async () => {
          for await (const _ of store.watch(p, { signal: ac.signal })) batches++;
        })();
        await sleep(50);
        ac.abort();
        await withTimeout(loop, 3000, 'the watch did not end on abort');
        assert.equal(batches, 0);

        const aborted = AbortSignal.abort();
        for await (const _ of store.watch(p, { fromRevision: revision, signal: aborted })) {
          assert.fail('an already-aborted watch yields nothing');
        }

        const ac2 = new AbortController();
        t.after(() => ac2.abort());
        for await (const batch of store.watch(p, { fromRevision: revision, signal: ac2.signal })) {
          assert.equal(batch[0]?.kv.key, `${p}a`);
          break;
        }
        await store.put(`${p}b`, '2');
        assert.equal((await store.get(`${p}b`))?.value, '2', 'the store works on after a watch ends');
      });

      it('a compacted revision answers CompactedError; re-list and watch on', async (t) => {
        const { store, p, watch } = await open(t);
        const revs: number[] = [];
        for (let i = 0; i < 5; i++) revs.push((await store.put(`${p}c/${i}`, String(i))).revision);
        const [, r2, r3, , r5] = revs as [number, number, number, number, number];
        await store.compact(r3);

        const err = await watchError(store, p, r2);
        assert.ok(err instanceof CompactedError, `expected CompactedError, got ${String(err)}`);
        assert.equal(err.code, 'DABBA_E_COMPACTED');
        assert.ok(
          err.compactRevision >= r3 && err.compactRevision <= r5 + 1,
          `compactRevision ${err.compactRevision}`,
        );

        const kept = watch(p, r3);
        await kept.waitForEvents(3);
        assert.deepEqual(
          kept.events.map((e) => e.kv.modRevision),
          revs.slice(2),
          'the compaction revision itself is kept',
        );

        // What a watcher does on CompactedError: list, then watch from the list's revision + 1.
        const list = await store.range(p);
        assert.equal(list.kvs.length, 5);
        const resumed = watch(p, list.revision + 1);
        const { revision: r6 } = await store.put(`${p}c/5`, '5');
        await resumed.waitForEvents(1);
        assert.equal(resumed.events[0]?.kv.modRevision, r6);

        await store.compact(r2); // at or below the compaction point: nothing to do
        await store.compact(r3);
        const r = await store.revision();
        await assert.rejects(store.compact(r + 100), DabbaError, 'cannot compact the future');
        assert.equal(await store.revision(), r, 'compaction does not move the revision');
      });
    });

    describe('leases', () => {
      it('grant returns an id and a TTL; keys put with it carry its id; no revision moves', async (t) => {
        const { store, p } = await open(t);
        const r = await store.revision();
        const lease = await store.grantLease(1);
        assert.ok(Number.isSafeInteger(lease.id) && lease.id !== 0, `lease id ${lease.id}`);
        assert.ok(lease.ttlSeconds >= 1, `ttl ${lease.ttlSeconds}`);
        const other = await store.grantLease(1);
        assert.notEqual(other.id, lease.id);
        assert.equal(await store.revision(), r, 'granting a lease is not a key change');
        await store.put(`${p}a`, '1', { lease: lease.id });
        assert.equal((await store.get(`${p}a`))?.lease, lease.id);
        const again = await store.keepAlive(lease.id);
        assert.equal(again.id, lease.id);
        assert.equal(again.ttlSeconds, lease.ttlSeconds);
        assert.equal(await store.revision(), r + 1, 'keepAlive is not a key change');
        await store.revokeLease(lease.id);
        await store.revokeLease(other.id);
      });

      it('keepAlive renews a lease past its TTL', async (t) => {
        const { store, p } = await open(t);
        const lease = await store.grantLease(1);
        const ttlMs = lease.ttlSeconds * 1000;
        await store.put(`${p}a`, '1', { lease: lease.id });
        const until = Date.now() + ttlMs * 2.5;
        while (Date.now() < until) {
          await sleep(ttlMs / 4);
          const l = await store.keepAlive(lease.id);
          assert.equal(l.id, lease.id);
        }
        assert.equal((await store.get(`${p}a`))?.value, '1', 'kept alive: the key is still there');
        await store.revokeLease(lease.id);
      });

      it('keys vanish, with delete events, when their lease expires', async (t) => {
        const { store, p, watch } = await open(t);
        const lease = await store.grantLease(1);
        const ttlMs = lease.ttlSeconds * 1000;
        const granted = Date.now();
        await store.put(`${p}a`, '1', { lease: lease.id });
        await store.put(`${p}b`, '2', { lease: lease.id });
        await store.put(`${p}c`, '3');
        const w = watch(p, (await store.revision()) + 1);

        await sleep(Math.max(0, granted + ttlMs / 2 - Date.now()));
        assert.ok(await store.get(`${p}a`), 'not gone before its TTL');

        await w.waitForEvents(2, ttlMs + grace);
        assert.deepEqual(w.events.map((e) => [e.type, e.kv.key.slice(p.length), e.prevKv?.lease]).sort(), [
          ['delete', 'a', lease.id],
          ['delete', 'b', lease.id],
        ]);
        assert.equal(w.events[0]?.kv.modRevision, w.events[1]?.kv.modRevision, 'one revision');
        assert.equal(w.batches.length, 1, 'one batch');
        assert.equal(await store.get(`${p}a`), undefined);
        assert.equal(await store.get(`${p}b`), undefined);
        assert.equal((await store.get(`${p}c`))?.value, '3', 'keys without the lease stay');
        await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);
        await assert.rejects(store.put(`${p}d`, '4', { lease: lease.id }), LeaseNotFoundError);
      });

      it('keepAlive of an expired lease throws LeaseNotFoundError', async (t) => {
        const { store } = await open(t);
        const lease = await store.grantLease(1);
        await sleep(lease.ttlSeconds * 1000 + grace);
        await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);
      });

      it('revoke deletes the keys of the lease in one revision; unknown leases are ignored', async (t) => {
        const { store, p, watch } = await open(t);
        const lease = await store.grantLease(60);
        await store.put(`${p}a`, '1', { lease: lease.id });
        await store.put(`${p}b`, '2', { lease: lease.id });
        await store.put(`${p}c`, '3');
        const r = await store.revision();
        const w = watch(p, r + 1);
        await store.revokeLease(lease.id);
        assert.equal(await store.revision(), r + 1);
        assert.deepEqual(
          (await store.range(p)).kvs.map((x) => x.key),
          [`${p}c`],
        );
        await w.waitForEvents(2);
        assert.ok(w.events.every((e) => e.type === 'delete' && e.kv.modRevision === r + 1));
        await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);

        await store.revokeLease(lease.id);
        await store.revokeLease(lease.id + 1_000_000);
        const empty = await store.grantLease(60);
        await store.revokeLease(empty.id);
        assert.equal(await store.revision(), r + 1, 'revoking without keys moves nothing');
      });

      it('put or txn with an unknown lease is refused and changes nothing', async (t) => {
        const { store, p } = await open(t);
        await store.put(`${p}keep`, '1');
        const r = await store.revision();
        const unknown = 987_654_321;
        await assert.rejects(store.put(`${p}a`, '1', { lease: unknown }), LeaseNotFoundError);
        await assert.rejects(
          store.txn({
            compare: [],
            success: [
              { type: 'put', key: `${p}b`, value: '1' },
              { type: 'delete', key: `${p}keep` },
              { type: 'put', key: `${p}c`, value: '1', lease: unknown },
            ],
          }),
          LeaseNotFoundError,
        );
        assert.deepEqual(
          (await store.range(p)).kvs.map((x) => x.key),
          [`${p}keep`],
        );
        assert.equal(await store.revision(), r);
      });

      it('a put without a lease detaches the key from its lease', async (t) => {
        const { store, p } = await open(t);
        const lease = await store.grantLease(60);
        await store.put(`${p}a`, '1', { lease: lease.id });
        await store.put(`${p}a`, '2');
        assert.equal((await store.get(`${p}a`))?.lease, 0);
        await store.revokeLease(lease.id);
        assert.equal((await store.get(`${p}a`))?.value, '2');
      });
    });

    describe('close', () => {
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
    });
  });
}

interface Fixture {
  store: Store;
  /** Unique key prefix for this test. */
  p: string;
  watch: (prefix: string, fromRevision?: number) => Probe;
}

function kv(
  key: string,
  value: string,
  createRevision: number,
  modRevision: number,
  version: number,
): KeyValue {
  return { key, value, createRevision, modRevision, version, lease: 0 };
}

/** Consumes a watch in the background, recording batches; waits for conditions on them. */
class Probe {
  readonly batches: WatchEvent[][] = [];
  readonly events: WatchEvent[] = [];
  readonly done: Promise<void>;
  error: unknown;
  finished = false;
  readonly #ac = new AbortController();
  #listeners: (() => void)[] = [];

  constructor(store: Store, prefix: string, fromRevision?: number) {
    const signal = this.#ac.signal;
    const iterable = store.watch(prefix, fromRevision === undefined ? { signal } : { fromRevision, signal });
    this.done = (async () => {
      try {
        for await (const batch of iterable) {
          this.batches.push(batch);
          for (const e of batch) this.events.push(e);
          this.#notify();
        }
      } catch (e) {
        this.error = e;
      } finally {
        this.finished = true;
        this.#notify();
      }
    })();
  }

  abort(): void {
    this.#ac.abort();
  }

  async waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.finished) {
        throw new Error(`the watch ended (${String(this.error)}) while waiting for ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs}ms waiting for ${what} (have ${this.events.length} events)`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForEvents(n: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.events.length >= n, `${n} events`, timeoutMs);
  }

  #notify(): void {
    const l = this.#listeners;
    this.#listeners = [];
    for (const f of l) f();
  }
}

/** The error a watch ends with (undefined if it ends cleanly within 5 s). */
async function watchError(store: Store, prefix: string, fromRevision: number): Promise<unknown> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    for await (const _ of store.watch(prefix, { fromRevision, signal: ac.signal })) {
      // Events before the error are not expected, but not the point either.
    }
    return undefined;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

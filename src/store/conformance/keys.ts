/**
 * The contract for single keys and prefixes: puts, gets, deletes, ranges and their revisions.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { kv, type ConformanceContext } from './fixture.ts';

/** Put, get and delete of single keys, and what they do to revisions. */
export function keyTests(c: ConformanceContext): void {
  const { open } = c;
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
    assert.deepEqual(await store.get(`${p}a`), kv(`${p}a`, '2', re.revision, re.revision, 1), 'recreated');
  });
}

/** Ranges and prefix deletes, concurrent writes, and malformed requests. */
export function rangeTests(c: ConformanceContext): void {
  const { open } = c;
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
    const results = await Promise.all(Array.from({ length: n }, (_, i) => store.put(`${p}${i}`, String(i))));
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
}

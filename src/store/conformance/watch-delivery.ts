/**
 * The contract for what a watch delivers: from which revision, in which batches, none lost.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sleep } from '../../lib/index.ts';
import { kv, type ConformanceContext, type Probe } from './fixture.ts';

/** Where a watch starts: a past, the current or a future revision. */
export function watchStartTests(c: ConformanceContext): void {
  const { open } = c;
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
}

/** How events arrive: a txn in one batch; many writes in order, none lost. */
export function watchBatchTests(c: ConformanceContext): void {
  const { open, manyWrites } = c;
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
      txnBatches[0]?.filter((e) => e.kv.modRevision === tr).map((e) => [e.type, e.kv.key.slice(p.length)]),
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
}

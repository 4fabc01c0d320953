/**
 * The contract for a watch's bounds: its prefix, its end, and compaction.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { CompactedError, DabbaError } from '../../errors/index.ts';
import { sleep } from '../../lib/index.ts';
import { watchError, withTimeout, type ConformanceContext, type Probe } from './fixture.ts';

/** Nested prefixes, ending a watch, and compacted revisions. */
export function watchBoundsTests(c: ConformanceContext): void {
  const { open } = c;
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
}

import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CompactedError, LeaseNotFoundError, StoreError } from '../../errors/index.ts';
import { ManualClock } from '../../lib/index.ts';
import { storeConformance } from '../conformance.ts';
import type { WatchEvent } from '../store.ts';
import { prefixEnd } from './prefix-range.ts';
import { SqliteStore, type SqliteStoreOptions } from './sqlite-store.ts';

const CHILD = join(import.meta.dirname, 'testdata', 'store-child.ts');

storeConformance(
  'SqliteStore',
  async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-store-'));
    const store = await SqliteStore.open(join(dir, 'store.db'));
    return {
      store,
      cleanup: async () => {
        await store.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  },
  { leaseExpiryGraceMs: 1000 },
);

async function tempPath(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-store-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'store.db');
}

async function openStore(
  t: TestContext,
  path: string,
  options: SqliteStoreOptions = {},
): Promise<SqliteStore> {
  const store = await SqliteStore.open(path, options);
  t.after(() => store.close());
  return store;
}

/** Consumes a watch until `n` events arrived (or it ends), then aborts it. */
async function take(
  store: SqliteStore,
  prefix: string,
  n: number,
  fromRevision?: number,
): Promise<WatchEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 10_000);
  const out: WatchEvent[] = [];
  try {
    const opts = fromRevision === undefined ? { signal: ac.signal } : { fromRevision, signal: ac.signal };
    for await (const batch of store.watch(prefix, opts)) {
      out.push(...batch);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return out;
}

function spawnChild(t: TestContext, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await once(child, 'exit');
    }
  });
  child.on('exit', (code) => {
    if (code !== null && code !== 0) t.diagnostic(`child exited ${code}: ${err}`);
  });
  return { child, output: () => out };
}

async function until(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('SqliteStore', { concurrency: true, timeout: 60_000 }, () => {
  it('reopen keeps data, revision, history, compaction point and lease ids', async (t) => {
    const path = await tempPath(t);
    const s1 = await SqliteStore.open(path);
    const r1 = (await s1.put('a', '1')).revision;
    await s1.put('b', '2');
    await s1.delete('b');
    const lease = await s1.grantLease(60);
    await s1.put('c', '3', { lease: lease.id });
    await s1.compact(r1 + 1);
    const rev = await s1.revision();
    await s1.close();

    const s2 = await openStore(t, path);
    assert.equal(await s2.revision(), rev);
    assert.equal((await s2.get('a'))?.value, '1');
    assert.equal(await s2.get('b'), undefined);
    assert.equal((await s2.get('c'))?.lease, lease.id);
    const events = await take(s2, '', 3, r1 + 1);
    assert.deepEqual(
      events.map((e) => [e.type, e.kv.key, e.kv.modRevision]),
      [
        ['put', 'b', r1 + 1],
        ['delete', 'b', r1 + 2],
        ['put', 'c', r1 + 3],
      ],
    );
    await assert.rejects(take(s2, '', 1, r1), CompactedError);
    const next = await s2.grantLease(60);
    assert.ok(next.id > lease.id, 'lease ids are not reused');
    assert.equal((await s2.put('d', '4')).revision, rev + 1);
  });

  it('commits other writes before bulk txns sent earlier, and bulk txns a bounded number per commit', async (t) => {
    const store = await openStore(t, await tempPath(t), { bulkOpsPerCommit: 2 });
    const bulk = (i: number): Promise<{ revision: number }> =>
      store.txn(
        {
          compare: [],
          success: [
            { type: 'put', key: `/plan/${i}/a`, value: 'x' },
            { type: 'put', key: `/plan/${i}/b`, value: 'x' },
          ],
        },
        { bulk: true },
      );
    // Sent in one turn of the event loop: they wait for the same next commit.
    const plans = [bulk(1), bulk(2)];
    const deploy = store.put('/jobs/web', 'v1');
    const [p1, p2] = await Promise.all(plans);
    const d = await deploy;
    assert.ok(
      d.revision < p1!.revision,
      `the deploy (${d.revision}) before the plan sent first (${p1!.revision})`,
    );
    assert.ok(p1!.revision < p2!.revision, 'plans in the order sent');

    // With a budget of two operations, the second plan waits for a commit of its own: when the first
    // plan's writer hears back, the second has not been committed yet.
    const q = [bulk(3), bulk(4)];
    await q[0];
    const second = { done: false };
    void q[1]!.then(() => (second.done = true));
    for (let i = 0; i < 5; i++) await Promise.resolve();
    assert.equal(second.done, false, 'one plan per commit');
    await q[1];
    assert.equal((await store.range('/plan/')).kvs.length, 8);
  });

  it('sends the next group commit while one is being committed, and answers them in order', async (t) => {
    const store = await openStore(t, await tempPath(t));
    const big = (tag: string): Promise<{ revision: number }> =>
      store.txn({
        compare: [],
        success: Array.from({ length: 5000 }, (_, i) => ({
          type: 'put' as const,
          key: `/${tag}/${i}`,
          value: 'x',
        })),
      });
    const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
    // Two writes in two turns: the second goes out before the first (5,000 rows) has come back. A
    // loaded machine may stall this thread long enough for the first to come back before the second
    // is sent, so the pair is tried up to five times; sent one at a time, none would see two.
    let most = 0;
    for (let round = 0; round < 5 && most < 2; round++) {
      const seen = take(store, `/${round}/`, 10_000);
      const first = big(`${round}/a`);
      await turn();
      const second = big(`${round}/b`);
      await turn();
      most = Math.max(most, store.commitsInFlight);
      const order: string[] = [];
      await Promise.all([first.then(() => order.push('a')), second.then(() => order.push('b'))]);
      assert.deepEqual(order, ['a', 'b']);
      assert.ok((await first).revision < (await second).revision);
      const events = await seen;
      assert.deepEqual(
        [...new Set(events.map((e) => e.kv.key.split('/')[2]))],
        ['a', 'b'],
        'watchers get the first commit, then the second',
      );
    }
    assert.equal(most, 2, 'the second commit was sent while the first was being committed');
    assert.equal(store.commitsInFlight, 0);

    // One at a time when asked.
    const single = await openStore(t, await tempPath(t), { commitsInFlight: 1 });
    const w1 = single.put('/x', '1');
    await turn();
    const w2 = single.put('/y', '2');
    await turn();
    assert.ok(single.commitsInFlight <= 1);
    await Promise.all([w1, w2]);
    await assert.rejects(SqliteStore.open(await tempPath(t), { commitsInFlight: 0 }), /commitsInFlight/);
  });

  it('leases get a full TTL again at reopen (closed time does not count), then expire', async (t) => {
    const path = await tempPath(t);
    const clock = new ManualClock();
    const s1 = await SqliteStore.open(path, { clock });
    const l1 = await s1.grantLease(10);
    const l2 = await s1.grantLease(10);
    await s1.put('a', '1', { lease: l1.id });
    await s1.put('b', '2', { lease: l2.id });
    clock.advance(8000);
    const r = await s1.revision();
    await s1.close();

    // Closed for a minute: far past both TTLs. As etcd does for a new leader, every lease gets its
    // whole TTL from the reopen, so their holders can renew them.
    clock.advance(60_000);
    const s2 = await openStore(t, path, { clock, leaseCheckIntervalMs: 20 });
    assert.equal((await s2.get('a'))?.value, '1');
    assert.equal((await s2.get('b'))?.value, '2');
    assert.equal(await s2.revision(), r);
    clock.advance(9000);
    await s2.keepAlive(l2.id); // renewed: now 10 s from here

    clock.advance(2000); // 11 s after the reopen: l1 expires; l2 was renewed
    const [del] = await take(s2, '', 1, r + 1);
    assert.equal(del?.type, 'delete');
    assert.equal(del?.kv.key, 'a');
    await assert.rejects(s2.keepAlive(l1.id), LeaseNotFoundError);
    assert.equal((await s2.get('b'))?.value, '2');

    clock.advance(9000); // l2 expires too; the timer notices within leaseCheckIntervalMs
    const [gone] = await take(s2, 'b', 1, r + 2);
    assert.equal(gone?.type, 'delete');
    assert.equal(await s2.get('b'), undefined);
  });

  it('every write acknowledged before a SIGKILL is there after reopening', async (t) => {
    const path = await tempPath(t);
    const { child, output } = spawnChild(t, ['write', path, '8']);
    await until(() => output().split('\n').length > 400, 'the child to acknowledge 400 writes');
    child.kill('SIGKILL');
    await once(child, 'exit');
    const acked = output()
      .split('\n')
      .slice(0, -1) // the last piece may be a partial line
      .map((line) => {
        const [rev, key] = line.split(' ');
        return { rev: Number(rev), key: key ?? '' };
      });
    assert.ok(acked.length >= 400);

    const store = await openStore(t, path);
    for (const { rev, key } of acked) {
      const kv = await store.get(key);
      assert.ok(kv, `acknowledged ${key} at ${rev} is missing`);
      assert.equal(kv.modRevision, rev, key);
    }
    // Whatever else made it to disk is consistent: one revision per put, none missing or repeated.
    const { kvs, revision } = await store.range('crash/');
    assert.ok(revision >= Math.max(...acked.map((a) => a.rev)));
    assert.deepEqual(
      kvs.map((kv) => kv.modRevision).sort((a, b) => a - b),
      Array.from({ length: revision }, (_, i) => i + 1),
    );
    t.diagnostic(`${acked.length} acknowledged, ${kvs.length} on disk`);
    assert.equal((await store.put('after', 'x')).revision, revision + 1);
  });

  it('only one store may own a file: a second opener is refused with the holder pid', async (t) => {
    const path = await tempPath(t);
    const s1 = await SqliteStore.open(path);
    await assert.rejects(SqliteStore.open(path), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.match(e.message, /locked by this process/);
      return true;
    });
    await s1.close();

    const { child, output } = spawnChild(t, ['hold', path]);
    await until(() => output().includes('ready'), 'the child to open the store');
    await assert.rejects(SqliteStore.open(path), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.code, 'DABBA_E_STORE');
      assert.equal(e.details['pid'], child.pid);
      assert.match(e.message, new RegExp(`locked by process ${child.pid}`));
      return true;
    });
    child.kill('SIGKILL');
    await once(child, 'exit');
    const s3 = await openStore(t, path); // the dead owner's lock is gone with it
    assert.equal(await s3.revision(), 0);
  });

  it('a slow watcher keeps bounded memory and still gets every event, from history', async (t) => {
    const store = await openStore(t, await tempPath(t), { watchBufferLimit: 20 });
    const ac = new AbortController();
    t.after(() => ac.abort());
    const it = store.watch('s/', { signal: ac.signal })[Symbol.asyncIterator]();
    const n = 500;
    for (let i = 0; i < n; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => store.put(`s/${(i + j) % 37}`, String(i + j))));
    }
    assert.ok(store.watchStats().buffered <= 20, `buffered ${store.watchStats().buffered}`);
    const got: WatchEvent[] = [];
    while (got.length < n) {
      const r = await it.next();
      assert.equal(r.done, false);
      got.push(...r.value);
    }
    assert.deepEqual(
      got.map((e) => e.kv.modRevision),
      Array.from({ length: n }, (_, i) => i + 1),
    );
    assert.ok(Object.isFrozen(got[0]), 'events are shared, hence frozen');
    // Caught up: live again.
    await store.put('s/x', 'live');
    const r = await it.next();
    assert.equal(r.done, false);
    assert.deepEqual(
      r.value.map((e) => e.kv.value),
      ['live'],
    );
  });

  it('a watcher that falls behind compacted history gets CompactedError', async (t) => {
    const store = await openStore(t, await tempPath(t), { watchBufferLimit: 10, historyRetention: 50 });
    const ac = new AbortController();
    t.after(() => ac.abort());
    const it = store.watch('s/', { signal: ac.signal })[Symbol.asyncIterator]();
    for (let i = 0; i < 300; i++) await store.put(`s/${i % 10}`, String(i));
    await assert.rejects(it.next(), CompactedError);
    // Automatic compaction keeps about the last 50 revisions.
    await assert.rejects(take(store, 's/', 1, 1), CompactedError);
    const recent = await take(store, 's/', 40, 261);
    assert.equal(recent[0]?.kv.modRevision, 261);
    assert.equal(recent.length, 40);
  });

  it('1,000 watchers on distinct prefixes each get exactly their events', async (t) => {
    const store = await openStore(t, await tempPath(t));
    const ac = new AbortController();
    t.after(() => ac.abort());
    const n = 1000;
    const counts = new Array<number>(n).fill(0);
    let all = 0;
    const loops = Array.from({ length: n }, async (_, i) => {
      for await (const batch of store.watch(`h/${i}/`, { signal: ac.signal })) {
        for (const e of batch) {
          assert.ok(e.kv.key.startsWith(`h/${i}/`));
          counts[i] = (counts[i] ?? 0) + 1;
        }
      }
    });
    const wide = (async () => {
      for await (const batch of store.watch('h/', { signal: ac.signal })) all += batch.length;
    })();
    assert.equal(store.watchStats().watchers, n + 1);
    const t0 = performance.now();
    for (let i = 0; i < n; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => store.put(`h/${i + j}/k`, 'v')));
    }
    await store.put('h/1/again', 'v');
    await until(() => all === n + 1 && counts.every((c, i) => c === (i === 1 ? 2 : 1)), 'all deliveries');
    t.diagnostic(`${n + 1} writes delivered to 1,001 watchers in ${Math.round(performance.now() - t0)} ms`);
    ac.abort();
    await Promise.all([...loops, wide]);
    assert.equal(store.watchStats().watchers, 0, 'aborted watchers are unregistered');
  });

  it('close commits the writes it already accepted', async (t) => {
    const path = await tempPath(t);
    const s1 = await SqliteStore.open(path);
    const writes = Array.from({ length: 20 }, (_, i) => s1.put(`k/${i}`, String(i)));
    await s1.close();
    const results = await Promise.all(writes);
    assert.equal(Math.max(...results.map((r) => r.revision)), 20);
    const s2 = await openStore(t, path);
    assert.equal((await s2.range('k/')).kvs.length, 20);
  });

  it('prefix ranges are exact at code point boundaries', async (t) => {
    assert.equal(prefixEnd('a'), 'b');
    assert.equal(prefixEnd('a/'), 'a0');
    assert.equal(prefixEnd(''), undefined);
    assert.equal(prefixEnd('\u{10FFFF}'), undefined);
    assert.equal(prefixEnd('a\u{10FFFF}'), 'b');
    assert.equal(prefixEnd('\uD7FF'), '\uE000');
    const store = await openStore(t, await tempPath(t));
    for (const k of ['a', 'a\u{10FFFF}', 'a\u{10FFFF}x', 'b', '\u{10FFFF}z']) await store.put(k, k);
    const keys = async (p: string): Promise<string[]> => (await store.range(p)).kvs.map((x) => x.key);
    assert.deepEqual(await keys('a'), ['a', 'a\u{10FFFF}', 'a\u{10FFFF}x']);
    assert.deepEqual(await keys('a\u{10FFFF}'), ['a\u{10FFFF}', 'a\u{10FFFF}x']);
    assert.deepEqual(await keys('\u{10FFFF}'), ['\u{10FFFF}z']);
    assert.equal((await keys('')).length, 5);
    assert.equal((await store.deletePrefix('a\u{10FFFF}')).deleted, 2);
  });
});

/**
 * The embedded store on a full disk (a real tmpfs): a write that finds no room fails with
 * DABBA_E_STORAGE_FULL saying where and how much is free; reads and watches go on; no lease expires
 * while writes are refused; once the tmpfs is enlarged, writes resume without reopening, every
 * acknowledged write is there, no refused one is, and SQLite finds the file intact.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, before, test } from 'node:test';
import { DabbaError } from '../../src/errors/index.ts';
import { sleep } from '../../src/lib/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

let fs: Tmpfs;
before(async () => {
  fs = await Tmpfs.mount('2m');
});
after(async () => {
  await fs.destroy();
});

test(
  'a full disk refuses writes with 507 and a clear message; they resume when space returns',
  { timeout: 60_000 },
  async () => {
    const path = join(fs.dir, 'store.db');
    const store = await SqliteStore.open(path, { leaseCheckIntervalMs: 100 });
    try {
      const lease = await store.grantLease(1);
      await store.put('/leased', 'x', { lease: lease.id });
      const acknowledged: string[] = [];
      const watch = store.watch('/k/', { signal: AbortSignal.timeout(50_000) })[Symbol.asyncIterator]();
      const value = 'v'.repeat(4000);
      let refused: unknown;
      for (let i = 0; i < 5000 && refused === undefined; i++) {
        try {
          await store.put(`/k/${String(i).padStart(5, '0')}`, value);
          acknowledged.push(`/k/${String(i).padStart(5, '0')}`);
        } catch (e) {
          refused = e;
        }
      }
      assert.ok(refused instanceof DabbaError, `a write is refused (${String(refused)})`);
      assert.equal(refused.code, 'DABBA_E_STORAGE_FULL');
      assert.equal(refused.httpStatus, 507);
      assert.equal(refused.details['where'], fs.dir);
      assert.equal(typeof refused.details['freeBytes'], 'number');
      assert.match(refused.message, new RegExp(`no space left in ${fs.dir} \\(.* free of .*\\)`));
      assert.ok(acknowledged.length > 10, `some writes fit first (${acknowledged.length})`);

      // Reads and watches go on.
      const { kvs } = await store.range('/k/');
      assert.deepEqual(
        kvs.map((kv) => kv.key),
        acknowledged,
      );
      const first = await watch.next();
      assert.equal(first.done, false);
      // Writes stay refused while there is no room, and the 1 s lease does not run out meanwhile.
      await sleep(1500);
      await assert.rejects(store.put('/k/again', value), { code: 'DABBA_E_STORAGE_FULL' });
      assert.ok(await store.get('/leased'), 'no lease expired while writes were refused');

      await fs.remount('size=16m');
      // Writes resume by themselves: no reopening.
      const after = await store.put('/k/after', value);
      assert.ok(after.revision > 0);
      assert.ok(await store.get('/k/after'));
      assert.equal(await store.get('/k/again'), undefined, 'a refused write left nothing behind');
      const again = await store.range('/k/');
      assert.deepEqual(
        again.kvs.map((kv) => kv.key),
        [...acknowledged, '/k/after'],
      );
      // The lease got a full TTL again at the first commit after the fault, and then runs out.
      assert.ok(await store.get('/leased'));
      await sleep(1600);
      assert.equal(await store.get('/leased'), undefined, 'leases expire again once writes work');
    } finally {
      await store.close();
    }
    const db = new DatabaseSync(path, { readOnly: true });
    try {
      assert.deepEqual({ ...db.prepare('PRAGMA integrity_check').get() }, { integrity_check: 'ok' });
      const row = db.prepare("SELECT count(*) AS n FROM kv WHERE key LIKE '/k/%'").get() as { n: number };
      assert.ok(row.n > 10);
    } finally {
      db.close();
    }
  },
);

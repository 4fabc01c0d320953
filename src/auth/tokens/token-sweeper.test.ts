import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { keys } from '../../model/index.ts';
import { SqliteStore } from '../../store/index.ts';
import { createToken } from './token-store.ts';
import { sweepExpiredTokens } from './token-sweeper.ts';

const HOUR = 3600_000;

async function tempStore(t: TestContext): Promise<SqliteStore> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-token-sweep-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  t.after(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  return store;
}

async function token(store: SqliteStore, name: string, expiresAt?: number): Promise<void> {
  await createToken(
    store,
    {
      name,
      role: 'viewer',
      namespaces: ['default'],
      createdBy: 'test',
      ...(expiresAt === undefined ? {} : { expiresAt }),
    },
    0,
  );
}

describe('sweepExpiredTokens', () => {
  it('deletes only tokens expired longer ago than the retention', async (t) => {
    const store = await tempStore(t);
    const now = 100 * HOUR;
    await token(store, 'forever');
    await token(store, 'long-gone', now - 30 * HOUR);
    await token(store, 'just-expired', now - HOUR);
    await token(store, 'still-valid', now + HOUR);
    await store.put(keys.token('garbled'), '{not json');
    const deleted = await sweepExpiredTokens(store, now, 24 * HOUR);
    assert.deepEqual(deleted, ['long-gone']);
    const { kvs } = await store.range(keys.tokensPrefix);
    assert.deepEqual(kvs.map((kv) => kv.key.slice(keys.tokensPrefix.length)).sort(), [
      'forever',
      'garbled',
      'just-expired',
      'still-valid',
    ]);
    // With no retention, the one that just expired goes too.
    assert.deepEqual(await sweepExpiredTokens(store, now, 0), ['just-expired']);
  });

  it('deletes each record once when replicas sweep at the same time', async (t) => {
    const store = await tempStore(t);
    const now = 100 * HOUR;
    for (let i = 0; i < 20; i++) await token(store, `join-${i}`, now - 48 * HOUR);
    const [a, b] = await Promise.all([sweepExpiredTokens(store, now), sweepExpiredTokens(store, now)]);
    const all = [...a, ...b].sort();
    assert.equal(all.length, 20);
    assert.equal(new Set(all).size, 20);
    assert.equal((await store.range(keys.tokensPrefix)).kvs.length, 0);
  });
});

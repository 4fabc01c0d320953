import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { StoreError } from '../errors/index.ts';
import { SqliteStore, getJson, putJson } from './index.ts';

test('getJson / putJson round-trip JSON, check its shape, and refuse non-JSON', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-store-json-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  t.after(() => store.close());

  const { revision } = await putJson(store, 'jobs/hello', { name: 'hello', replicas: 3 });
  const entry = await getJson<{ name: string; replicas: number }>(store, 'jobs/hello');
  assert.deepEqual(entry?.value, { name: 'hello', replicas: 3 });
  assert.equal(entry?.kv.modRevision, revision);
  assert.equal(await getJson(store, 'jobs/missing'), undefined);

  const parse = (raw: unknown): number => {
    if (typeof raw !== 'number') throw new TypeError('not a number');
    return raw;
  };
  await putJson(store, 'n', 42);
  assert.equal((await getJson(store, 'n', parse))?.value, 42);
  await assert.rejects(getJson(store, 'jobs/hello', parse), TypeError);

  await store.put('broken', '{not json');
  await assert.rejects(getJson(store, 'broken'), StoreError);
});

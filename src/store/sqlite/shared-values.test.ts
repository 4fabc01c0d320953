import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keys } from '../../model/index.ts';
import { SqliteStore } from './sqlite-store.ts';
import { restoreRepeatedValues, shareRepeatedValues } from './shared-values.ts';
import type { WriteOp } from './wire.ts';

const long = (tag: string): string => JSON.stringify({ tag, pad: 'x'.repeat(100) });

test('a repeated put value crosses once and comes back whole; the callers ops are left alone', () => {
  const task = long('task');
  const other = long('other');
  const ops: WriteOp[] = [
    {
      kind: 'txn',
      request: {
        compare: [],
        success: [
          { type: 'put', key: '/a', value: task },
          { type: 'put', key: '/b', value: task, lease: 7 },
          { type: 'delete', key: '/c' },
          { type: 'put', key: '/d', value: task },
          { type: 'put', key: '/e', value: other },
          { type: 'put', key: '/f', value: 'short' },
          { type: 'put', key: '/g', value: 'short' },
        ],
        failure: [
          { type: 'put', key: '/h', value: other },
          { type: 'put', key: '/i', value: other },
        ],
      },
    },
    { kind: 'grant', ttlSeconds: 5 },
  ];
  const before = structuredClone(ops);
  const sent = shareRepeatedValues(ops);
  assert.deepEqual(ops, before, 'the ops given are not changed');
  const wire = structuredClone(sent);
  const first = wire[0];
  assert.ok(first?.kind === 'txn');
  // /b and /d repeat the put before them (a delete in between does not matter); short values do not count.
  assert.deepEqual(
    first.request.success.map((o) => (o.type === 'put' ? o.value.length : -1)),
    [task.length, 0, -1, 0, other.length, 5, 5],
  );
  assert.deepEqual(
    first.request.failure?.map((o) => (o.type === 'put' ? o.value.length : -1)),
    [other.length, 0],
  );
  restoreRepeatedValues(wire);
  assert.deepEqual(wire, before);
});

test('a plan with task records and assignments reads back the same through a real store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-shared-values-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  t.after(() => store.close());
  const values = Array.from({ length: 50 }, (_, i) => long(`t${i}`));
  const seen = new Map<string, string>();
  const abort = new AbortController();
  t.after(() => abort.abort());
  const watched = (async () => {
    for await (const batch of store.watch('/', { signal: abort.signal }))
      for (const e of batch) {
        if (e.type === 'put') seen.set(e.kv.key, e.kv.value);
        if (seen.size === 100) return;
      }
  })();
  const r = await store.txn({
    compare: [],
    success: values.flatMap((v, i) => [
      { type: 'put' as const, key: keys.task('job', `t${i}`), value: v },
      { type: 'put' as const, key: keys.assignment('host-1', `t${i}`), value: v },
    ]),
  });
  assert.equal(r.succeeded, true);
  await watched;
  for (const [i, v] of values.entries()) {
    assert.equal((await store.get(keys.task('job', `t${i}`)))?.value, v);
    assert.equal((await store.get(keys.assignment('host-1', `t${i}`)))?.value, v);
    assert.equal(seen.get(keys.assignment('host-1', `t${i}`)), v);
  }
});

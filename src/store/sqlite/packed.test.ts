import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { keys } from '../../model/index.ts';
import type { WatchEvent } from '../store.ts';
import { packPublished, packWrites, unpackPublished, unpackWrites } from './packed.ts';
import { SqliteStore } from './sqlite-store.ts';
import type { WriteOp } from './wire.ts';

const long = (tag: string): string => JSON.stringify({ tag, pad: 'x'.repeat(100) });

test('writes cross as flat arrays, a repeated put value once, and come back as given', () => {
  const task = long('task');
  const other = long('other');
  const ops: WriteOp[] = [
    {
      kind: 'txn',
      request: {
        compare: [{ key: '/f', target: 'mod', op: '=', modRevision: 3 }],
        success: [
          { type: 'put', key: '/a', value: task },
          { type: 'put', key: '/b', value: task, lease: 7 },
          { type: 'delete', key: '/c' },
          { type: 'put', key: '/d', value: task },
          { type: 'put', key: '/e', value: other },
          { type: 'put', key: '/f', value: 'short' },
          { type: 'put', key: '/g', value: 'short' },
          { type: 'deletePrefix', prefix: '/h/' },
          { type: 'get', key: '/i' },
        ],
        failure: [
          { type: 'put', key: '/j', value: other },
          { type: 'put', key: '/k', value: other },
        ],
      },
    },
    { kind: 'txn', request: { compare: [], success: [] } },
    { kind: 'grant', ttlSeconds: 5 },
  ];
  const before = structuredClone(ops);
  const wire = structuredClone(packWrites(ops));
  assert.deepEqual(ops, before, 'the ops given are not changed');
  const first = wire[0];
  assert.ok(first?.kind === 'txn');
  assert.ok(
    [...first.success, ...(first.failure ?? [])].every((v) => typeof v !== 'object'),
    'only strings and numbers',
  );
  // /b and /d repeat the put before them (a delete in between does not matter); short values do not.
  const values = (branch: (string | number)[]): number =>
    branch.filter((v) => typeof v === 'string' && v.length >= 64).length;
  assert.equal(values(first.success), 2, 'task and other once each');
  assert.equal(values(first.failure ?? []), 1);
  assert.deepEqual(unpackWrites(wire), before);
});

test('published revisions cross as one flat array and come back as the same events', () => {
  const kv = (key: string, value: string, mod: number) => ({
    key,
    value,
    createRevision: 2,
    modRevision: mod,
    version: 3,
    lease: 0,
  });
  const published: { revision: number; events: WatchEvent[] }[] = [
    {
      revision: 10,
      events: [
        { type: 'put', kv: { ...kv('/a', '', 10), createRevision: 10, version: 1 } },
        { type: 'put', kv: { ...kv('/b', '', 10), lease: 9 }, prevKv: kv('/b', 'old', 8) },
      ],
    },
    {
      revision: 11,
      events: [
        {
          type: 'delete',
          kv: { key: '/c', value: '', createRevision: 0, modRevision: 11, version: 0, lease: 0 },
          prevKv: kv('/c', 'gone', 4),
        },
      ],
    },
  ];
  const wire = structuredClone(packPublished(published, [0, 2]));
  assert.ok(wire.every((v) => typeof v !== 'object'));
  const seen: { revision: number; op: number; events: WatchEvent[] }[] = [];
  unpackPublished(wire, (revision, op, events) => seen.push({ revision, op, events }));
  assert.deepEqual(seen, [
    { ...published[0]!, op: 0 },
    { ...published[1]!, op: 2 },
  ]);
});

test('a plan with task records and assignments reads back the same through a real store', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-packed-'));
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

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ManualClock, silentLogger } from '../../lib/index.ts';
import type { IngestBatch } from '../../model/index.ts';
import type { Query } from '../tsdb/index.ts';
import { CopyStores } from './copy-stores.ts';
import { TelemetryService } from './service.ts';

const T0 = Date.UTC(2026, 11, 6, 10);
const ORIGIN = 'a1b2c3d4e5f60718';

function batch(seq: number, values: number[]): IngestBatch {
  return {
    host: 'h1',
    seq,
    spool: 'sp',
    series: [
      {
        name: 'reqs_total',
        labels: { job: 'web' },
        kind: 'counter',
        samples: values.map((v, i) => [T0 + (seq * 10 + i) * 1000, v]),
      },
    ],
  };
}

const countQuery: Query = {
  name: 'reqs_total',
  start: T0,
  end: T0 + 3_600_000,
  step: 3_600_000,
  over: 'count',
};

function countOf(copies: CopyStores): number {
  const p = copies.partial(ORIGIN, countQuery);
  return p === undefined ? 0 : p.series.flatMap((s) => s.steps).reduce((a, st) => a + st[4], 0);
}

test('a re-sent batch is counted once in the copy store, also after a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-copies-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new ManualClock(T0 + 3_600_000);
  const open = (): CopyStores => new CopyStores({ dir, clock, logger: silentLogger });
  let copies = open();
  assert.deepEqual(copies.list(), []);
  const first = await copies.apply(ORIGIN, 'replica-a', batch(1, [1, 2, 3]));
  assert.deepEqual(first, { accepted: 3, seq: 1, duplicate: false, skipped: 0 });
  const again = await copies.apply(ORIGIN, 'replica-a', batch(1, [1, 2, 3]));
  assert.equal(again.duplicate, true);
  assert.equal(again.accepted, 0);
  await copies.apply(ORIGIN, 'replica-a', batch(2, [4, 5]));
  assert.equal(countOf(copies), 5);
  copies.close();

  // Reopened (a restart): the origin is listed, its seq log still knows both batches.
  copies = open();
  t.after(() => copies.close());
  assert.deepEqual(copies.list(), [{ store: ORIGIN, replica: 'replica-a' }]);
  assert.equal((await copies.apply(ORIGIN, 'replica-a', batch(1, [1, 2, 3]))).duplicate, true);
  assert.equal((await copies.apply(ORIGIN, 'replica-a', batch(2, [4, 5]))).duplicate, true);
  assert.equal(countOf(copies), 5);
  // A later batch, sent by the origin under its new replica id (restarted): applied, and named so.
  assert.equal((await copies.apply(ORIGIN, 'replica-a2', batch(3, [6]))).accepted, 1);
  assert.equal(countOf(copies), 6);
  assert.deepEqual(copies.list(), [{ store: ORIGIN, replica: 'replica-a2' }]);
  await assert.rejects(() => copies.apply('../x', 'r', batch(4, [7])), /not a store id/);
});

test('copies never go into the replica\u2019s own store; the store id survives a restart', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dabba-copies-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = new ManualClock(T0 + 3_600_000);
  const open = (): TelemetryService =>
    new TelemetryService({ dir: join(dir, 'tsdb'), clock, logger: silentLogger });
  let svc = open();
  const id = svc.storeId;
  await svc.copies.apply(ORIGIN, 'replica-a', batch(1, [1, 2, 3]));
  assert.equal(svc.db.series().length, 0, 'nothing in the own store');
  assert.equal(svc.db.partial(countQuery).series.length, 0);
  assert.deepEqual(readdirSync(join(dir, 'tsdb-copies')), [ORIGIN]);
  svc.close();
  svc = open();
  t.after(() => svc.close());
  assert.equal(svc.storeId, id);
  assert.equal(countOf(svc.copies), 3);
});

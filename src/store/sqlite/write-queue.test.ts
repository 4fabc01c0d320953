import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TxnOp } from '../store.ts';
import { txnSize, WriteQueue } from './write-queue.ts';

const puts = (n: number, tag: string): TxnOp[] =>
  Array.from({ length: n }, (_, i) => ({ type: 'put', key: `/${tag}/${i}`, value: 'v' }));

/** Queues a txn of `n` puts under `/tag/` (bulk when asked); `tags` reads the tags back from a batch. */
function add(q: WriteQueue, tag: string, n: number, bulk: boolean): void {
  const request = { compare: [], success: puts(n, tag) };
  const p = { op: { kind: 'txn' as const, request }, resolve: () => undefined, reject: () => undefined };
  q.push(p, bulk ? txnSize(request) : undefined);
}

const tags = (batch: ReturnType<WriteQueue['next']>): string[] =>
  batch.map((p) => {
    const first = p.op.kind === 'txn' ? p.op.request.success[0] : undefined;
    return first?.type === 'put' ? (first.key.split('/')[1] ?? '?') : p.op.kind;
  });

describe('WriteQueue', () => {
  it('takes the other writes first, then bulk txns within the budget, each lane in order', () => {
    const q = new WriteQueue(1000, 10);
    add(q, 'bulk1', 4, true);
    add(q, 'w1', 1, false);
    add(q, 'bulk2', 4, true);
    add(q, 'bulk3', 4, true);
    add(q, 'w2', 1, false);
    assert.deepEqual(tags(q.next()), ['w1', 'w2', 'bulk1', 'bulk2'], '4 + 4 fit in 10; 4 more do not');
    assert.equal(q.empty, false);
    assert.deepEqual(tags(q.next()), ['bulk3']);
    assert.equal(q.empty, true);
    assert.deepEqual(q.next(), []);
  });

  it('takes the first bulk txn whatever its size, so a large plan is never stuck', () => {
    const q = new WriteQueue(1000, 10);
    add(q, 'big', 50, true);
    add(q, 'small', 1, true);
    assert.deepEqual(tags(q.next()), ['big']);
    assert.deepEqual(tags(q.next()), ['small']);
  });

  it('keeps a batch within maxBatch writes, bulk ones included, and still takes one bulk txn when it can', () => {
    const q = new WriteQueue(2, 1000);
    for (const t of ['w1', 'w2', 'w3']) add(q, t, 1, false);
    add(q, 'bulk1', 1, true);
    assert.deepEqual(tags(q.next()), ['w1', 'w2'], 'other writes first, up to maxBatch');
    assert.deepEqual(tags(q.next()), ['w3', 'bulk1']);
  });

  it('counts a txn by its compares and its larger branch', () => {
    const request = {
      compare: [{ key: '/a', target: 'mod' as const, op: '=' as const, modRevision: 0 }],
      success: puts(3, 's'),
      failure: puts(5, 'f'),
    };
    assert.equal(txnSize(request), 6);
    assert.equal(txnSize({ compare: [], success: puts(2, 's') }), 2);
  });
});

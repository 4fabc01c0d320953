/**
 * The writes waiting for the next group commit, in two lanes: every write, and bulk txns
 * (`TxnOptions.bulk`: the scheduler's plans). A batch takes the other writes first (up to
 * `maxBatch`), then bulk txns up to `bulkOps` operations (the first one waiting whatever its size),
 * so a deploy, a heartbeat or a read waits behind one bounded commit, not behind thousands of task
 * records. Each lane keeps its order.
 */
import type { TxnRequest } from '../store.ts';
import type { WriteOp } from './wire.ts';

export interface Pending {
  op: WriteOp;
  /** Operations it writes (bulk txns only: what a commit's bulk budget counts). */
  size: number;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

/** What a txn counts against the bulk budget: its compares and its larger branch. */
export const txnSize = (r: TxnRequest): number =>
  r.compare.length + Math.max(r.success.length, r.failure?.length ?? 0);

export class WriteQueue {
  readonly #maxBatch: number;
  readonly #bulkOps: number;
  readonly #writes: Pending[] = [];
  readonly #bulk: Pending[] = [];

  constructor(maxBatch: number, bulkOps: number) {
    this.#maxBatch = maxBatch;
    this.#bulkOps = bulkOps;
  }

  /** Queues a write; `bulk`: it is a bulk txn of that many operations. */
  push(p: Omit<Pending, 'size'>, bulk?: number): void {
    if (bulk === undefined) this.#writes.push({ ...p, size: 0 });
    else this.#bulk.push({ ...p, size: bulk });
  }

  get empty(): boolean {
    return this.#writes.length === 0 && this.#bulk.length === 0;
  }

  /** Takes the next group commit's writes (none when empty). */
  next(): Pending[] {
    const batch = this.#writes.splice(0, this.#maxBatch);
    let ops = 0;
    let n = 0;
    for (const p of this.#bulk) {
      if (batch.length + n >= this.#maxBatch || (n > 0 && ops + p.size > this.#bulkOps)) break;
      ops += p.size;
      n++;
    }
    for (const p of this.#bulk.splice(0, n)) batch.push(p);
    return batch;
  }
}

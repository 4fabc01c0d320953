/**
 * Applying ingest batches to the time-series store, idempotently per host:
 *
 * 1. a batch whose seq is not above the highest applied for its host (same spool) is a re-send:
 *    answered with `duplicate: true`, nothing stored;
 * 2. otherwise its points are appended (the `host` label forced to the batch's host), the store is
 *    flushed (points durable), and only then the seq is recorded (SeqLog, fdatasync).
 *
 * Crash windows: before the flush, nothing of the batch is durable and it was not acknowledged: the
 * agent re-sends it. Between the flush and the seq record, the points are durable but the seq is
 * not: the re-sent batch is applied again, and the store skips every point not after its series'
 * last one, so no point is stored twice. The whole apply is synchronous (no await), so two requests
 * of one host never interleave.
 */
import type { Clock } from '../../lib/index.ts';
import { INGEST_LIMITS, type IngestBatch, type IngestResult } from '../../model/index.ts';
import type { TimeSeriesStore } from '../tsdb/index.ts';
import { SeqLog } from './seq-log.ts';

export class Ingestor {
  readonly #db: TimeSeriesStore;
  readonly #seqs: SeqLog;
  readonly #clock: Clock;

  constructor(db: TimeSeriesStore, clock: Clock) {
    this.#db = db;
    this.#seqs = new SeqLog(db.dir);
    this.#clock = clock;
  }

  /** The highest seq applied for a host (and its spool id), if any. */
  applied(host: string): { seq: number; spool?: string } | undefined {
    return this.#seqs.get(host);
  }

  apply(batch: IngestBatch): IngestResult {
    const prev = this.#seqs.get(batch.host);
    if (prev !== undefined && prev.spool === batch.spool && batch.seq <= prev.seq) {
      return { accepted: 0, seq: batch.seq, duplicate: true, skipped: 0 };
    }
    const db = this.#db;
    const horizon = this.#clock.now() + INGEST_LIMITS.futureMs;
    let accepted = 0;
    let total = 0;
    for (const s of batch.series) {
      const ref = db.ref(s.name, { ...s.labels, host: batch.host });
      total += s.samples.length;
      for (const [t, v] of s.samples) {
        if (t > horizon) continue;
        if (db.append(ref, t, v ?? NaN)) accepted++;
      }
    }
    db.flush();
    this.#seqs.record(batch.host, batch.seq, batch.spool);
    return { accepted, seq: batch.seq, duplicate: false, skipped: total - accepted };
  }

  close(): void {
    this.#seqs.close();
  }
}

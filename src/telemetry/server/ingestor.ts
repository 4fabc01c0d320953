/**
 * Applying ingest batches to the time-series store, idempotently per host, with group commit:
 *
 * 1. a batch whose seq is not above the highest applied for its host (same spool) is a re-send:
 *    answered with `duplicate: true` once the batch it repeats is durable, nothing stored;
 * 2. otherwise its points are appended at once (the `host` label forced to the batch's host); the
 *    batch then waits for the next group commit: every `commitWindowMs` (default 20 ms) at most,
 *    the store is flushed (every waiting batch's points durable: one fdatasync per open window) and
 *    then the batches' seqs are recorded (SeqLog: one write, one fdatasync); only then are they
 *    answered. So the fsyncs per second stay bounded however many hosts ship at once.
 *
 * Crash windows: before the flush, nothing of a batch is durable and it was not acknowledged: the
 * agent re-sends it. Between the flush and the seq record, the points are durable but the seq is
 * not: the re-sent batch is applied again, and the store skips every point not after its series'
 * last one, so no point is stored twice. Appending and the seq check run without an await between
 * them, so two requests of one host never interleave there.
 */
import type { Clock } from '../../lib/index.ts';
import { INGEST_LIMITS, type IngestBatch, type IngestResult } from '../../model/index.ts';
import type { TimeSeriesStore } from '../tsdb/index.ts';
import { SeqLog, type AppliedSeq } from './seq-log.ts';

interface Group {
  records: { host: string; seq: number; spool: string | undefined }[];
  done: Promise<void>;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class Ingestor {
  readonly #db: TimeSeriesStore;
  readonly #seqs: SeqLog;
  readonly #clock: Clock;
  readonly #windowMs: number;
  /** Applied but not yet durable, per host: the latest seq and the commit that makes it durable. */
  readonly #pending = new Map<string, AppliedSeq & { done: Promise<void> }>();
  #group: Group | undefined;
  #closed = false;

  constructor(db: TimeSeriesStore, clock: Clock, commitWindowMs = 20) {
    this.#db = db;
    this.#seqs = new SeqLog(db.dir);
    this.#clock = clock;
    this.#windowMs = commitWindowMs;
  }

  /** The highest seq applied and durable for a host (and its spool id), if any. */
  applied(host: string): AppliedSeq | undefined {
    return this.#seqs.get(host);
  }

  async apply(batch: IngestBatch): Promise<IngestResult> {
    const pending = this.#pending.get(batch.host);
    const prev = pending ?? this.#seqs.get(batch.host);
    if (prev !== undefined && prev.spool === batch.spool && batch.seq <= prev.seq) {
      // Answer "already applied" only once what it repeats is durable.
      if (pending !== undefined) await pending.done;
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
    const done = this.#commit(batch.host, batch.seq, batch.spool);
    const entry = { seq: batch.seq, ...(batch.spool === undefined ? {} : { spool: batch.spool }), done };
    this.#pending.set(batch.host, entry);
    try {
      await done;
    } finally {
      if (this.#pending.get(batch.host) === entry) this.#pending.delete(batch.host);
    }
    return { accepted, seq: batch.seq, duplicate: false, skipped: total - accepted };
  }

  /** Flushes what is waiting now and closes the seq log. */
  close(): void {
    if (this.#closed) return;
    this.#commitNow();
    this.#closed = true;
    this.#seqs.close();
  }

  #commit(host: string, seq: number, spool: string | undefined): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('the time-series store is closed'));
    if (this.#group === undefined) {
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      // An unanswered rejection is the request's to handle (apply awaits it).
      promise.catch(() => undefined);
      this.#group = { records: [], done: promise, resolve, reject };
      setTimeout(() => this.#commitNow(), this.#windowMs);
    }
    this.#group.records.push({ host, seq, spool });
    return this.#group.done;
  }

  #commitNow(): void {
    const g = this.#group;
    if (g === undefined) return;
    this.#group = undefined;
    try {
      this.#db.flush();
      this.#seqs.recordAll(g.records);
      g.resolve();
    } catch (e) {
      g.reject(e);
    }
  }
}

/**
 * The SQLite side of the embedded store, run on its own thread (worker.ts): owns the connection,
 * runs group commits and reads. It holds no watchers and no timers; the API's thread
 * (sqlite-store.ts) keeps those and learns every committed revision from the batch results.
 */
import { DatabaseSync } from 'node:sqlite';
import { StoreError, isDabbaError, type DabbaError } from '../../errors/index.ts';
import { systemClock } from '../../lib/clock.ts';
import type { KeyValue } from '../store.ts';
import { isLockedError, lockedError, removePidFile, writePidFile } from './lock.ts';
import { prefixEnd } from './prefix-range.ts';
import { eventFromHistory, kvFromRow, type HistoryRow, type KvRow } from './rows.ts';
import { initSchema } from './schema.ts';
import { Statements } from './statements.ts';
import { storageErrorFor } from './storage-fault.ts';
import {
  toWire,
  type BatchResult,
  type HistoryResult,
  type OpenOptions,
  type RangeReply,
  type WireOutcome,
  type WriteOp,
} from './wire.ts';
import { packPublished } from './packed.ts';
import { WriteTx } from './write-tx.ts';

export class Engine {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #st: Statements;
  readonly #retention: number;
  readonly #compactStep: number;
  #revision: number;
  #compactRevision: number;
  /**
   * A batch failed for lack of space or a read-only disk, and none has committed since. Kept here
   * as well as by the caller (`faulted`): with two batches in flight, the second was sent before
   * the caller heard of the first one's failure.
   */
  #storageFailed = false;

  constructor(o: OpenOptions) {
    this.path = o.file;
    this.#db = openLocked(o.file, o.cacheMiB);
    try {
      this.#st = new Statements(this.#db);
      this.#retention = o.retention;
      this.#compactStep = o.compactStep;
      this.#revision = this.#meta('revision');
      this.#compactRevision = this.#meta('compact_rev');
    } catch (e) {
      this.close();
      throw e;
    }
  }

  get revision(): number {
    return this.#revision;
  }

  get compactRevision(): number {
    return this.#compactRevision;
  }

  get(key: string): KeyValue | undefined {
    const row = this.#st.getKv.get(key) as KvRow | undefined;
    return row === undefined ? undefined : kvFromRow(row);
  }

  range(prefix: string, limit: number): RangeReply {
    const end = prefixEnd(prefix);
    const rows = (end === undefined
      ? this.#st.rangeFrom.all(prefix, limit)
      : this.#st.rangeBetween.all(prefix, end, limit)) as unknown as KvRow[];
    return { kvs: rows.map(kvFromRow), revision: this.#revision };
  }

  /**
   * Events for keys under prefix in revisions [from, to], about `limit` at most but never splitting a
   * revision; `next` is the first revision not read. Refuses (`compacted`) a `from` that history no
   * longer holds.
   */
  history(prefix: string, from: number, to: number, limit: number): HistoryResult {
    if (from < this.#compactRevision) return { compacted: this.#compactRevision };
    const end = prefixEnd(prefix);
    const rows = (end === undefined
      ? this.#st.historyFrom.all(from, to, prefix, limit)
      : this.#st.historyBetween.all(from, to, prefix, end, limit)) as unknown as HistoryRow[];
    let next = to + 1;
    const last = rows[rows.length - 1];
    if (rows.length >= limit && last !== undefined) {
      // The chunk may end inside a revision: read the rest of that revision too.
      const rest = (end === undefined
        ? this.#st.historyRestFrom.all(last.rev, last.id, prefix)
        : this.#st.historyRestBetween.all(last.rev, last.id, prefix, end)) as unknown as HistoryRow[];
      for (const r of rest) rows.push(r);
      next = last.rev + 1;
    }
    return { events: rows.map(eventFromHistory), next };
  }

  /**
   * One group commit: every write in its own savepoint. `now` is the time leases are judged by
   * (absent: the system clock, read when the batch runs).
   */
  batch(ops: WriteOp[], now: number | undefined, faulted: boolean): BatchResult {
    const clock = now === undefined ? systemClock : { now: () => now };
    const tx = new WriteTx(this.#st, clock, this.#revision, this.#compactRevision);
    const outcomes: WireOutcome[] = [];
    /** The index of the write that made each published revision. */
    const opOf: number[] = [];
    let storage: BatchResult['storage'];
    try {
      this.#st.begin.run();
      // After writes failed for lack of space, the first commit gives every lease a full TTL: the
      // holders' renewals were refused meanwhile (etcd does the same on a new leader).
      if (faulted || this.#storageFailed) tx.renewAll();
      for (const [i, op] of ops.entries()) {
        const snap = tx.snapshot();
        opOf.length = tx.published.length;
        this.#st.savepoint.run();
        try {
          const value = runOp(tx, op);
          this.#st.release.run();
          while (opOf.length < tx.published.length) opOf.push(i);
          outcomes.push({ ok: true, value });
        } catch (e) {
          // SQLITE_FULL and I/O errors roll the whole transaction back: nothing to undo here.
          if (!this.#db.isTransaction) throw e;
          this.#st.rollbackTo.run();
          this.#st.release.run();
          tx.restore(snap);
          const full = isDabbaError(e) ? undefined : storageErrorFor(e, this.path);
          if (full) storage = { error: toWire(full), writes: 1 };
          outcomes.push({ ok: false, error: toWire(isDabbaError(e) ? e : (full ?? storeFailure(e))) });
        }
      }
      tx.autoCompact(this.#retention, this.#compactStep);
      tx.finish();
      this.#st.commit.run();
    } catch (e) {
      try {
        if (this.#db.isTransaction) this.#st.rollback.run();
      } catch {
        // The transaction is already gone.
      }
      const full = storageErrorFor(e, this.path);
      if (full) this.#storageFailed = true;
      const err = toWire(full ?? storeFailure(e));
      return {
        failed: err,
        ...(full ? { storage: { error: err, writes: ops.length } } : { commitError: String(e) }),
        revision: this.#revision,
        compactRevision: this.#compactRevision,
        published: [],
        nextLeaseExpiry: this.#nextLeaseExpiry(),
      };
    }
    this.#revision = tx.revision;
    this.#compactRevision = tx.compactRevision;
    this.#storageFailed = storage !== undefined;
    const result: BatchResult = {
      outcomes,
      revision: tx.revision,
      compactRevision: tx.compactRevision,
      published: packPublished(tx.published, opOf),
      nextLeaseExpiry: this.#nextLeaseExpiry(),
    };
    if (storage !== undefined) result.storage = storage;
    return result;
  }

  /** Releases the file (and its pid file). */
  close(): void {
    try {
      if (this.#db.isOpen) this.#db.close();
    } finally {
      removePidFile(this.path);
    }
  }

  #nextLeaseExpiry(): number | null {
    const row = this.#st.nextLeaseExpiry.get() as { t: number | null } | undefined;
    return row?.t ?? null;
  }

  #meta(name: string): number {
    const row = this.#st.getMeta.get(name) as { value: number } | undefined;
    if (row === undefined) throw new StoreError(`store file ${this.path} has no ${name} (damaged?)`);
    return row.value;
  }
}

function runOp(tx: WriteTx, op: WriteOp): unknown {
  switch (op.kind) {
    case 'txn':
      return tx.txn(op.request);
    case 'grant':
      return tx.grant(op.ttlSeconds);
    case 'keepAlive':
      return tx.keepAlive(op.id);
    case 'revoke':
      tx.revoke(op.id);
      return undefined;
    case 'compact':
      tx.compact(op.revision);
      return undefined;
    case 'expire':
      return tx.expire();
    case 'renewAll':
      return tx.renewAll();
  }
}

function storeFailure(e: unknown): DabbaError {
  if (isDabbaError(e)) return e;
  return new StoreError(`store write failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

/** Opens the file with the durability settings and takes the owner lock. */
function openLocked(file: string, cacheMiB: number): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: 0 });
  } catch (e) {
    throw new StoreError(`cannot open store file ${file}: ${(e as Error).message}`, {
      cause: e,
      details: { path: file },
    });
  }
  try {
    // EXCLUSIVE before WAL: the lock is held for the connection's life, and the WAL index lives in
    // process memory (no -shm file, no other process can attach).
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    const mode = db.prepare('PRAGMA journal_mode = WAL').get() as { journal_mode?: string } | undefined;
    if (mode?.journal_mode !== 'wal') {
      throw new StoreError(`store file ${file} cannot use WAL mode (got ${String(mode?.journal_mode)})`);
    }
    db.exec('PRAGMA synchronous = FULL');
    db.exec(`PRAGMA cache_size = -${cacheMiB * 1024}`);
    db.exec('BEGIN IMMEDIATE');
    initSchema(db, file);
    db.exec('COMMIT');
  } catch (e) {
    try {
      db.close();
    } catch {
      // Closing a half-opened connection.
    }
    if (isLockedError(e)) throw lockedError(file, e);
    if (isDabbaError(e)) throw e;
    throw new StoreError(`cannot open store file ${file}: ${(e as Error).message}`, {
      cause: e,
      details: { path: file },
    });
  }
  writePidFile(file);
  return db;
}

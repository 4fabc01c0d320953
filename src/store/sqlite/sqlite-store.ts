import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { DabbaError, StoreError, isDabbaError, isStorageError } from '../../errors/index.ts';
import { silentLogger, systemClock, type Clock, type Logger } from '../../lib/index.ts';
import type {
  KeyValue,
  Lease,
  LeaseId,
  PutOptions,
  RangeResult,
  Store,
  TxnRequest,
  TxnResult,
  WatchEvent,
  WatchOptions,
  WriteResult,
} from '../store.ts';
import {
  badRequest,
  checkKey,
  checkLeaseId,
  checkLimit,
  checkPrefix,
  checkRevision,
  checkTtl,
  checkTxn,
  checkValue,
} from '../validate.ts';
import { isLockedError, lockedError, removePidFile, writePidFile } from './lock.ts';
import { prefixEnd } from './prefix-range.ts';
import { eventFromHistory, kvFromRow, type HistoryRow, type KvRow } from './rows.ts';
import { initSchema } from './schema.ts';
import { Statements } from './statements.ts';
import { WatchHub } from './watch-hub.ts';
import { Watcher, type HistorySource } from './watcher.ts';
import { WriteTx } from './write-tx.ts';
import { WriteFaultState, storageErrorFor } from './storage-fault.ts';

export interface SqliteStoreOptions {
  logger?: Logger;
  /** Reads lease expiry times; the expiry timer still uses real timers. */
  clock?: Clock;
  /** Revisions of history kept for watch-from-revision; older ones are compacted. Default 100,000. */
  historyRetention?: number;
  /**
   * Events a live watcher may hold undelivered before it drops them and re-reads from history
   * (bounded memory per slow watcher). Default 10,000.
   */
  watchBufferLimit?: number;
  /** Most write requests committed in one transaction (group commit). Default 1,000. */
  maxBatch?: number;
  /** Most operations in one txn (each of compare, success, failure). Default 10,000. */
  maxTxnOps?: number;
  /**
   * Most memory SQLite may use to keep database pages, in MiB (used only as the file grows).
   * Default 64 (SQLite's own default, 2 MiB, makes writes to a store of 100,000 tasks re-read pages:
   * about 5% slower in bench/scale.ts).
   */
  cacheMiB?: number;
  /** Longest wait between two lease expiry checks, in ms (guards against clock jumps). Default 1,000. */
  leaseCheckIntervalMs?: number;
}

interface Pending {
  fn: (tx: WriteTx) => unknown;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

const HISTORY_CHUNK = 1000;

/**
 * The embedded Store: one SQLite file (WAL, synchronous=FULL) owned by one process.
 *
 * Writes: every write request is queued and the queue is committed on the next turn of the event
 * loop, many requests in one SQLite transaction (group commit). Each request still takes its own
 * revision(s), runs inside its own savepoint (a failing request does not affect its neighbours), and
 * resolves only after COMMIT returned, that is after the WAL was fsynced. Watchers get a revision's
 * events right after the commit that holds it, in the same synchronous step, so a reader never sees a
 * revision that watchers have not been handed.
 *
 * Reads run directly on the connection and see exactly the committed state.
 */
export class SqliteStore implements Store {
  readonly path: string;
  readonly maxTxnOps: number;
  readonly #db: DatabaseSync;
  readonly #st: Statements;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #hub = new WatchHub();
  readonly #retention: number;
  readonly #compactStep: number;
  readonly #bufferLimit: number;
  readonly #maxBatch: number;
  readonly #leaseCheckMs: number;
  #revision: number;
  #compactRevision: number;
  #queue: Pending[] = [];
  #flushScheduled = false;
  /** open -> closing (no new requests; accepted writes still commit) -> closed (file released). */
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<void> | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #expiring = false;
  /** Writes failing for lack of space or a read-only disk (logged once; leases do not expire meanwhile). */
  readonly #fault: WriteFaultState;

  private constructor(path: string, db: DatabaseSync, options: SqliteStoreOptions) {
    this.path = path;
    this.#db = db;
    this.#st = new Statements(db);
    this.#log = options.logger ?? silentLogger;
    this.#fault = new WriteFaultState(this.#log);
    this.#clock = options.clock ?? systemClock;
    this.#retention = positiveInt(options.historyRetention ?? 100_000, 'historyRetention');
    this.#compactStep = Math.max(1, Math.min(1000, Math.floor(this.#retention / 100)));
    this.#bufferLimit = positiveInt(options.watchBufferLimit ?? 10_000, 'watchBufferLimit');
    this.#maxBatch = positiveInt(options.maxBatch ?? 1000, 'maxBatch');
    this.maxTxnOps = positiveInt(options.maxTxnOps ?? 10_000, 'maxTxnOps');
    this.#leaseCheckMs = positiveInt(options.leaseCheckIntervalMs ?? 1000, 'leaseCheckIntervalMs');
    this.#revision = this.#meta('revision');
    this.#compactRevision = this.#meta('compact_rev');
  }

  /**
   * Opens (creating if needed) the store file at path, takes the single-owner lock (refusing with a
   * StoreError naming the holder's pid if another live store has it), and gives every lease a full
   * TTL from now (the time it was closed does not count).
   */
  static async open(path: string, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    const file = resolve(path);
    mkdirSync(dirname(file), { recursive: true });
    const cacheMiB = positiveInt(options.cacheMiB ?? 64, 'cacheMiB');
    const db = openLocked(file, cacheMiB);
    let store: SqliteStore;
    try {
      store = new SqliteStore(file, db, options);
    } catch (e) {
      db.close();
      removePidFile(file);
      throw e;
    }
    try {
      // The time the store was closed does not count against leases (etcd refreshes every lease
      // when a new leader takes over): holders get a full TTL to renew. Otherwise every agent's
      // liveness would be gone after a restart that took longer than its TTL, and all its tasks
      // taken as lost before it could come back.
      const renewed = await store.#write((tx) => tx.renewAll());
      if (renewed > 0) store.#log.info({ leases: renewed }, 'leases renewed for a full TTL at open');
    } catch (e) {
      await store.close();
      throw e;
    }
    store.#armLeaseTimer();
    store.#log.debug({ path: file, revision: store.#revision }, 'store opened');
    return store;
  }

  // ---- reads ----

  get(key: string): Promise<KeyValue | undefined> {
    return attempt(() => {
      checkKey(key);
      this.#assertOpen();
      const row = this.#st.getKv.get(key) as KvRow | undefined;
      return row === undefined ? undefined : kvFromRow(row);
    });
  }

  range(prefix: string, options: { limit?: number } = {}): Promise<RangeResult> {
    return attempt(() => {
      checkPrefix(prefix);
      checkLimit(options.limit);
      this.#assertOpen();
      const limit = options.limit === undefined || options.limit === 0 ? -1 : options.limit;
      const end = prefixEnd(prefix);
      const rows = (end === undefined
        ? this.#st.rangeFrom.all(prefix, limit)
        : this.#st.rangeBetween.all(prefix, end, limit)) as unknown as KvRow[];
      return { kvs: rows.map(kvFromRow), revision: this.#revision };
    });
  }

  revision(): Promise<number> {
    return attempt(() => {
      this.#assertOpen();
      return this.#revision;
    });
  }

  // ---- writes ----

  put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    return attempt(() => {
      checkKey(key);
      checkValue(value, key);
      if (options.lease !== undefined) checkLeaseId(options.lease);
      const op =
        options.lease === undefined
          ? { type: 'put' as const, key, value }
          : { type: 'put' as const, key, value, lease: options.lease };
      return this.#write((tx) => ({ revision: tx.txn({ compare: [], success: [op] }).revision }));
    });
  }

  delete(key: string): Promise<WriteResult & { deleted: number }> {
    return attempt(() => {
      checkKey(key);
      return this.#write((tx) => {
        const r = tx.txn({ compare: [], success: [{ type: 'delete', key }] });
        return { revision: r.revision, deleted: r.deleted };
      });
    });
  }

  deletePrefix(prefix: string): Promise<WriteResult & { deleted: number }> {
    return attempt(() => {
      checkPrefix(prefix);
      return this.#write((tx) => {
        const r = tx.txn({ compare: [], success: [{ type: 'deletePrefix', prefix }] });
        return { revision: r.revision, deleted: r.deleted };
      });
    });
  }

  txn(request: TxnRequest): Promise<TxnResult> {
    return attempt(() => {
      checkTxn(request, this.maxTxnOps);
      return this.#write((tx) => {
        const r = tx.txn(request);
        return { succeeded: r.succeeded, revision: r.revision, gets: r.gets };
      });
    });
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return attempt(() => {
      checkTtl(ttlSeconds);
      return this.#write((tx) => tx.grant(ttlSeconds));
    });
  }

  keepAlive(id: LeaseId): Promise<Lease> {
    return attempt(() => {
      checkLeaseId(id);
      return this.#write((tx) => tx.keepAlive(id));
    });
  }

  revokeLease(id: LeaseId): Promise<void> {
    return attempt(() => {
      checkLeaseId(id);
      return this.#write((tx) => tx.revoke(id));
    });
  }

  compact(revision: number): Promise<void> {
    return attempt(() => {
      checkRevision(revision, 'compact revision');
      return this.#write((tx) => tx.compact(revision));
    });
  }

  // ---- watch ----

  /**
   * See Store.watch. Implementation notes: the watch is registered when watch() is called (not at
   * the first next()), so "only new events" means events committed after this call. Batches may
   * hold several revisions, never part of one. Events are shared between watchers and frozen.
   * close() ends every watch cleanly, like an abort.
   */
  watch(prefix: string, options: WatchOptions): AsyncIterable<WatchEvent[]> {
    try {
      checkPrefix(prefix);
      if (options.fromRevision !== undefined) checkRevision(options.fromRevision, 'fromRevision');
      this.#assertOpen();
    } catch (e) {
      return failing(e);
    }
    const w = new Watcher({
      prefix,
      nextRevision: options.fromRevision ?? this.#revision + 1,
      source: this.#historySource,
      signal: options.signal,
      bufferLimit: this.#bufferLimit,
      chunk: HISTORY_CHUNK,
      onEnd: (x) => this.#hub.remove(x),
    });
    if (!w.ended) this.#hub.add(w);
    return w;
  }

  /** Open watches and the live events they hold undelivered (for metrics and tests). */
  watchStats(): { watchers: number; buffered: number } {
    return this.#hub.stats();
  }

  readonly #historySource: HistorySource = {
    committedRevision: () => this.#revision,
    compactRevision: () => this.#compactRevision,
    readHistory: (prefix, from, to, limit) => {
      this.#assertOpen();
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
    },
  };

  // ---- lifecycle ----

  /** Commits the writes already accepted, ends every watch, stops timers, releases the file. */
  close(): Promise<void> {
    if (this.#closing === undefined) {
      this.#state = 'closing';
      this.#closing = this.#doClose();
    }
    return this.#closing;
  }

  async #doClose(): Promise<void> {
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = undefined;
    while (this.#queue.length > 0) this.#runBatch(this.#queue.splice(0, this.#maxBatch));
    this.#state = 'closed';
    this.#hub.endAll();
    try {
      this.#db.close();
    } finally {
      removePidFile(this.path);
    }
    this.#log.debug({ path: this.path, revision: this.#revision }, 'store closed');
    await Promise.resolve();
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#state !== 'open') {
      throw new DabbaError('DABBA_E_STORE_CLOSED', 'the store is closed', { details: { path: this.path } });
    }
  }

  #meta(name: string): number {
    const row = this.#st.getMeta.get(name) as { value: number } | undefined;
    if (row === undefined) throw new StoreError(`store file ${this.path} has no ${name} (damaged?)`);
    return row.value;
  }

  #write<T>(fn: (tx: WriteTx) => T): Promise<T> {
    this.#assertOpen();
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ fn, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushScheduled) {
        this.#flushScheduled = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#state === 'closed' || this.#queue.length === 0) return;
    this.#runBatch(this.#queue.splice(0, this.#maxBatch));
    if (this.#queue.length > 0 && !this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(this.#flush);
    }
  };

  /** One group commit. */
  #runBatch(batch: Pending[]): void {
    const tx = new WriteTx(this.#st, this.#clock, this.#revision, this.#compactRevision);
    const outcomes: Outcome[] = [];
    try {
      this.#st.begin.run();
      // After writes failed for lack of space, the first commit gives every lease a full TTL: the
      // holders' renewals were refused meanwhile (etcd does the same on a new leader).
      if (this.#fault.faulted) tx.renewAll();
      for (const p of batch) {
        const snap = tx.snapshot();
        this.#st.savepoint.run();
        try {
          const value = p.fn(tx);
          this.#st.release.run();
          outcomes.push({ ok: true, value });
        } catch (e) {
          // SQLITE_FULL and I/O errors roll the whole transaction back: nothing to undo here.
          if (!this.#db.isTransaction) throw e;
          this.#st.rollbackTo.run();
          this.#st.release.run();
          tx.restore(snap);
          const full = isDabbaError(e) ? undefined : storageErrorFor(e, this.path);
          if (full) this.#fault.failed(full, 1);
          outcomes.push({ ok: false, error: isDabbaError(e) ? e : (full ?? storeFailure(e)) });
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
      const err = full ?? storeFailure(e);
      if (full) this.#fault.failed(full, batch.length);
      else this.#log.error({ err: e, writes: batch.length }, 'store commit failed');
      for (const p of batch) p.reject(err);
      return;
    }
    if (outcomes.every((o) => o.ok || !isStorageError(o.error))) this.#fault.recovered();
    this.#revision = tx.revision;
    this.#compactRevision = tx.compactRevision;
    for (const pub of tx.published) this.#hub.dispatch(pub.revision, pub.events);
    batch.forEach((p, i) => {
      const o = outcomes[i];
      if (o?.ok === true) p.resolve(o.value);
      else p.reject(o?.error);
    });
    if (tx.leasesTouched) this.#armLeaseTimer();
  }

  /** Arms the expiry timer for the earliest lease (re-checking at least every leaseCheckIntervalMs). */
  #armLeaseTimer(): void {
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = undefined;
    if (this.#state !== 'open') return;
    const row = this.#st.nextLeaseExpiry.get() as { t: number | null } | undefined;
    if (row?.t === null || row?.t === undefined) return;
    const delay = Math.max(0, Math.min(this.#leaseCheckMs, row.t - this.#clock.now()));
    this.#leaseTimer = setTimeout(this.#expireLeases, delay);
  }

  readonly #expireLeases = (): void => {
    this.#leaseTimer = undefined;
    if (this.#expiring || this.#state !== 'open') return;
    // While writes are refused no lease runs out: its holder's renewals could not be written.
    if (this.#fault.faulted) {
      this.#leaseTimer = setTimeout(this.#expireLeases, this.#leaseCheckMs);
      return;
    }
    this.#expiring = true;
    this.#write((tx) => tx.expire())
      .then((ids) => {
        if (ids.length > 0) this.#log.debug({ leases: ids }, 'leases expired');
      })
      .catch((e: unknown) => {
        if (this.#state === 'open' && !this.#fault.faulted)
          this.#log.error({ err: e }, 'lease expiry failed');
      })
      .finally(() => {
        this.#expiring = false;
        this.#armLeaseTimer();
      });
  };
}

/** Opens the file with the durability settings and takes the owner lock. */
function openLocked(file: string, cacheMiB: number): DatabaseSync {
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(file, { timeout: 0 });
  } catch (e) {
    throw new StoreError(`cannot open store file ${file}`, { cause: e, details: { path: file } });
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

/** Runs fn, turning a synchronous throw into a rejected promise. */
function attempt<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
}

function storeFailure(e: unknown): DabbaError {
  if (isDabbaError(e)) return e;
  return new StoreError(`store write failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
}

function failing(e: unknown): AsyncIterable<WatchEvent[]> {
  const error = e instanceof Error ? e : new Error(String(e));
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
  };
}

function positiveInt(n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw badRequest(`${what} must be a positive integer, got ${n}`);
  return n;
}

import { mkdirSync } from 'node:fs';
import type { EventLoopUtilization } from 'node:perf_hooks';
import { dirname, resolve } from 'node:path';
import { CompactedError, DabbaError } from '../../errors/index.ts';
import { attempt, silentLogger, systemClock, type Clock, type Logger } from '../../lib/index.ts';
import type {
  KeyValue,
  Lease,
  LeaseId,
  PutOptions,
  RangeResult,
  Store,
  TxnOptions,
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
import type { SqliteStoreOptions } from './options.ts';
import { packWrites, unpackPublished } from './packed.ts';
import { WriteFaultState } from './storage-fault.ts';
import { StoreThread } from './store-thread.ts';
import { WatchHub } from './watch-hub.ts';
import { txnSize, WriteQueue, type Pending } from './write-queue.ts';
import { Watcher, type HistorySource } from './watcher.ts';
import {
  fillPutValues,
  freezeEvents,
  fromWire,
  type BatchResult,
  type HistoryResult,
  type Opened,
  type RangeReply,
  type WriteOp,
} from './wire.ts';

export type { SqliteStoreOptions } from './options.ts';

const HISTORY_CHUNK = 1000;

type TxnReply = TxnResult & { deleted: number };

/**
 * The embedded Store: one SQLite file (WAL, synchronous=FULL) owned by one process, worked on by a
 * thread of its own (worker.ts, engine.ts) so that statements and commits (fsync) do not hold up the
 * caller's event loop.
 *
 * Writes: every write request is queued; the queue goes to the store thread as one batch, committed
 * in one SQLite transaction (group commit), while the next batch gathers here. Up to
 * `commitsInFlight` batches (default 2) are sent before the first comes back, so the store thread
 * goes from one commit to the next without waiting for this thread; they come back in order. Bulk
 * txns (`TxnOptions.bulk`: the scheduler's plans) wait in a lane of their own, a bounded number per
 * commit (write-queue.ts). Each request still takes its own revision(s), runs inside its own
 * savepoint (a failing request does not affect its neighbours), and resolves only after COMMIT
 * returned, that is after the WAL was fsynced. Watchers get a batch's events when its result comes
 * back, in the same synchronous step that resolves its writers, before any later answer of the store
 * thread is looked at.
 *
 * Reads go to the store thread too, behind the batches sent before them (each bounded in its bulk
 * work, so a read does not wait behind a whole plan), and see exactly the committed state; the
 * revision a range returns has already been handed to watchers here.
 */
export class SqliteStore implements Store {
  readonly path: string;
  readonly maxTxnOps: number;
  readonly #thread: StoreThread;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #hub = new WatchHub();
  readonly #bufferLimit: number;
  readonly #leaseCheckMs: number;
  #revision: number;
  #compactRevision: number;
  #nextLeaseExpiry: number | null = null;
  readonly #queue: WriteQueue;
  #flushScheduled = false;
  /** Group commits sent to the store thread whose results have not come back (at most `#maxInFlight`). */
  #inFlight = 0;
  /** The last batch sent: it comes back after every earlier one. */
  #lastSent: Promise<void> = Promise.resolve();
  readonly #maxInFlight: number;
  /** open -> closing (no new requests; accepted writes still commit) -> closed (file released). */
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<void> | undefined;
  #leaseTimer: NodeJS.Timeout | undefined;
  #expiring = false;
  /** Writes failing for lack of space or a read-only disk (logged once; leases do not expire meanwhile). */
  readonly #fault: WriteFaultState;

  private constructor(path: string, thread: StoreThread, counters: Opened, options: SqliteStoreOptions) {
    this.path = path;
    this.#thread = thread;
    this.#log = options.logger ?? silentLogger;
    this.#fault = new WriteFaultState(this.#log);
    this.#clock = options.clock ?? systemClock;
    this.#bufferLimit = positiveInt(options.watchBufferLimit ?? 10_000, 'watchBufferLimit');
    this.maxTxnOps = positiveInt(options.maxTxnOps ?? 10_000, 'maxTxnOps');
    this.#queue = new WriteQueue(
      positiveInt(options.maxBatch ?? 1000, 'maxBatch'),
      positiveInt(options.bulkOpsPerCommit ?? 1000, 'bulkOpsPerCommit'),
    );
    this.#leaseCheckMs = positiveInt(options.leaseCheckIntervalMs ?? 1000, 'leaseCheckIntervalMs');
    this.#maxInFlight = positiveInt(options.commitsInFlight ?? 2, 'commitsInFlight');
    this.#revision = counters.revision;
    this.#compactRevision = counters.compactRevision;
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
    const retention = positiveInt(options.historyRetention ?? 100_000, 'historyRetention');
    const compactStep = Math.max(1, Math.min(1000, Math.floor(retention / 100)));
    const { thread, opened: counters } = await StoreThread.open({ file, cacheMiB, retention, compactStep });
    let store: SqliteStore;
    try {
      store = new SqliteStore(file, thread, counters, options);
    } catch (e) {
      await thread.close();
      throw e;
    }
    try {
      // The time the store was closed does not count against leases (etcd refreshes every lease
      // when a new leader takes over): holders get a full TTL to renew. Otherwise every agent's
      // liveness would be gone after a restart that took longer than its TTL, and all its tasks
      // taken as lost before it could come back.
      const renewed = (await store.#write({ kind: 'renewAll' })) as number;
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
      return this.#thread.call<KeyValue | undefined>({ type: 'get', key });
    });
  }

  range(prefix: string, options: { limit?: number } = {}): Promise<RangeResult> {
    return attempt(() => {
      checkPrefix(prefix);
      checkLimit(options.limit);
      this.#assertOpen();
      const limit = options.limit === undefined || options.limit === 0 ? -1 : options.limit;
      return this.#thread.call<RangeReply>({ type: 'range', prefix, limit });
    });
  }

  revision(): Promise<number> {
    return attempt(() => {
      this.#assertOpen();
      return this.#revision;
    });
  }

  /** This object is the store's only writer (the file's lock): every commit comes back through it. */
  knownRevision(): number {
    return this.#revision;
  }

  // ---- writes ----

  put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    return attempt(async () => {
      checkKey(key);
      checkValue(value, key);
      if (options.lease !== undefined) checkLeaseId(options.lease);
      const op =
        options.lease === undefined
          ? { type: 'put' as const, key, value }
          : { type: 'put' as const, key, value, lease: options.lease };
      const r = await this.#txn({ compare: [], success: [op] });
      return { revision: r.revision };
    });
  }

  delete(key: string): Promise<WriteResult & { deleted: number }> {
    return attempt(async () => {
      checkKey(key);
      const r = await this.#txn({ compare: [], success: [{ type: 'delete', key }] });
      return { revision: r.revision, deleted: r.deleted };
    });
  }

  deletePrefix(prefix: string): Promise<WriteResult & { deleted: number }> {
    return attempt(async () => {
      checkPrefix(prefix);
      const r = await this.#txn({ compare: [], success: [{ type: 'deletePrefix', prefix }] });
      return { revision: r.revision, deleted: r.deleted };
    });
  }

  txn(request: TxnRequest, options?: TxnOptions): Promise<TxnResult> {
    return attempt(async () => {
      checkTxn(request, this.maxTxnOps);
      const r = await this.#txn(request, options?.bulk === true);
      return { succeeded: r.succeeded, revision: r.revision, gets: r.gets };
    });
  }

  grantLease(ttlSeconds: number): Promise<Lease> {
    return attempt(() => {
      checkTtl(ttlSeconds);
      return this.#write({ kind: 'grant', ttlSeconds }) as Promise<Lease>;
    });
  }

  keepAlive(id: LeaseId): Promise<Lease> {
    return attempt(() => {
      checkLeaseId(id);
      return this.#write({ kind: 'keepAlive', id }) as Promise<Lease>;
    });
  }

  revokeLease(id: LeaseId): Promise<void> {
    return attempt(async () => {
      checkLeaseId(id);
      await this.#write({ kind: 'revoke', id });
    });
  }

  compact(revision: number): Promise<void> {
    return attempt(async () => {
      checkRevision(revision, 'compact revision');
      await this.#write({ kind: 'compact', revision });
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

  /**
   * The store thread's event loop utilization since it started (`performance.eventLoopUtilization`;
   * pass two readings to it for an interval): how close the thread is to being the bottleneck.
   */
  threadUtilization(): EventLoopUtilization {
    return this.#thread.utilization();
  }

  /** Open watches and the live events they hold undelivered (for metrics and tests). */
  watchStats(): { watchers: number; buffered: number } {
    return this.#hub.stats();
  }

  readonly #historySource: HistorySource = {
    committedRevision: () => this.#revision,
    compactRevision: () => this.#compactRevision,
    readHistory: async (prefix, from, to, limit) => {
      this.#assertOpen();
      const r = await this.#thread.call<HistoryResult>({ type: 'history', prefix, from, to, limit });
      if (r.compacted !== undefined) throw new CompactedError(from, r.compacted);
      return { events: freezeEvents(r.events ?? []), next: r.next ?? to + 1 };
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
    for (;;) {
      if (this.#inFlight > 0) await this.#lastSent;
      else if (!this.#queue.empty) this.#send();
      else break;
    }
    this.#state = 'closed';
    this.#hub.endAll();
    try {
      await this.#thread.close();
    } catch (e) {
      this.#log.error({ err: e, path: this.path }, 'store close failed');
    }
    this.#log.debug({ path: this.path, revision: this.#revision }, 'store closed');
  }

  // ---- internals ----

  #assertOpen(): void {
    if (this.#state !== 'open') {
      throw new DabbaError('DABBA_E_STORE_CLOSED', 'the store is closed', { details: { path: this.path } });
    }
  }

  /** `bulk`: queued in the bulk lane, by its size (write-queue.ts). */
  #txn(request: TxnRequest, bulk = false): Promise<TxnReply> {
    return this.#write({ kind: 'txn', request }, bulk ? txnSize(request) : undefined) as Promise<TxnReply>;
  }

  /** Queues a write; `bulk`: its size, for a bulk txn (committed after other writes, see WriteQueue). */
  #write(op: WriteOp, bulk?: number): Promise<unknown> {
    this.#assertOpen();
    return new Promise<unknown>((resolve, reject) => {
      this.#queue.push({ op, resolve, reject }, bulk);
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushScheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#flushScheduled = true;
    setImmediate(this.#flush);
  }

  readonly #flush = (): void => {
    this.#flushScheduled = false;
    if (this.#state === 'closed' || this.#queue.empty || this.#inFlight >= this.#maxInFlight) return;
    this.#send();
  };

  /** Group commits sent to the store thread and not yet come back (for tests and metrics). */
  get commitsInFlight(): number {
    return this.#inFlight;
  }

  /** Sends one group commit; another is scheduled at once while fewer than the most are in flight. */
  #send(): void {
    const batch = this.#queue.next();
    // Packed: a flat array per txn branch, a task record's JSON and its assignment's crossing once.
    const ops = packWrites(batch.map((p) => p.op));
    const sent = this.#thread.call<BatchResult>(
      this.#clock === systemClock
        ? { type: 'batch', ops, faulted: this.#fault.faulted }
        : { type: 'batch', ops, now: this.#clock.now(), faulted: this.#fault.faulted },
    );
    this.#inFlight++;
    this.#lastSent = sent.then(
      (r) => {
        this.#inFlight--;
        this.#applyBatch(batch, r);
        if (!this.#queue.empty) this.#schedule();
      },
      (e: unknown) => {
        this.#inFlight--;
        for (const p of batch) p.reject(e);
        if (!this.#queue.empty) this.#schedule();
      },
    );
    if (!this.#queue.empty) this.#schedule();
  }

  /** A batch came back: hand its revisions to watchers, then answer its writers. */
  #applyBatch(batch: Pending[], r: BatchResult): void {
    if (r.storage !== undefined)
      this.#fault.failed(fromWire(r.storage.error) as DabbaError, r.storage.writes);
    else if (r.failed === undefined) this.#fault.recovered();
    if (r.commitError !== undefined)
      this.#log.error({ err: r.commitError, writes: batch.length }, 'store commit failed');
    this.#revision = r.revision;
    this.#compactRevision = r.compactRevision;
    unpackPublished(r.published, (revision, op, events) => {
      const o = r.outcomes?.[op];
      const p = batch[op];
      if (o?.ok === true && p !== undefined) fillPutValues(events, p.op, o.value);
      this.#hub.dispatch(revision, freezeEvents(events));
    });
    const failed = r.failed === undefined ? undefined : fromWire(r.failed);
    batch.forEach((p, i) => {
      const o = r.outcomes?.[i];
      if (o?.ok === true) p.resolve(o.value);
      else p.reject(o === undefined ? failed : fromWire(o.error));
    });
    if (r.nextLeaseExpiry !== this.#nextLeaseExpiry) {
      this.#nextLeaseExpiry = r.nextLeaseExpiry;
      this.#armLeaseTimer();
    }
  }

  /** Arms the expiry timer for the earliest lease (re-checking at least every leaseCheckIntervalMs). */
  #armLeaseTimer(): void {
    clearTimeout(this.#leaseTimer);
    this.#leaseTimer = undefined;
    if (this.#state !== 'open') return;
    const t = this.#nextLeaseExpiry;
    if (t === null) return;
    const delay = Math.max(0, Math.min(this.#leaseCheckMs, t - this.#clock.now()));
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
    (this.#write({ kind: 'expire' }) as Promise<LeaseId[]>)
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

import type { Clock } from '../../lib/index.ts';
import { DabbaError, LeaseNotFoundError } from '../../errors/index.ts';
import type { Compare, KeyValue, Lease, LeaseId, TxnRequest, TxnResult, WatchEvent } from '../store.ts';
import { prefixEnd } from './prefix-range.ts';
import { kvFromRow, makeEvent, tombstone, type KvRow } from './rows.ts';
import type { LeaseRow, Statements } from './statements.ts';

/** The events of one revision, to hand to watchers once the transaction holding it has committed. */
export interface Published {
  revision: number;
  events: WatchEvent[];
}

interface Snapshot {
  revision: number;
  compactRevision: number;
  published: number;
  leasesTouched: boolean;
}

/**
 * The writes of one group commit: runs inside an open SQLite transaction and keeps the revision
 * counter for it. Each call that changes keys takes the next revision and records its events in
 * history; nothing is visible to readers or watchers until the caller commits.
 *
 * Checks that can refuse a request (unknown lease, future compaction) run before anything is
 * written; the caller still wraps each request in a savepoint so any failure undoes only that request.
 */
export class WriteTx {
  revision: number;
  compactRevision: number;
  readonly published: Published[] = [];
  /** Whether a lease was granted, renewed or removed (the expiry timer must be re-armed). */
  leasesTouched = false;
  readonly #st: Statements;
  readonly #clock: Clock;
  readonly #startRevision: number;
  readonly #startCompact: number;

  constructor(st: Statements, clock: Clock, revision: number, compactRevision: number) {
    this.#st = st;
    this.#clock = clock;
    this.revision = revision;
    this.compactRevision = compactRevision;
    this.#startRevision = revision;
    this.#startCompact = compactRevision;
  }

  snapshot(): Snapshot {
    return {
      revision: this.revision,
      compactRevision: this.compactRevision,
      published: this.published.length,
      leasesTouched: this.leasesTouched,
    };
  }

  restore(s: Snapshot): void {
    this.revision = s.revision;
    this.compactRevision = s.compactRevision;
    this.published.length = s.published;
    this.leasesTouched = s.leasesTouched;
  }

  txn(req: TxnRequest): TxnResult & { deleted: number } {
    const succeeded = req.compare.every((c) => this.#holds(c));
    const ops = succeeded ? req.success : (req.failure ?? []);
    const now = this.#clock.now();
    for (const op of ops) {
      if (op.type === 'put' && op.lease !== undefined && op.lease !== 0) this.#requireLease(op.lease, now);
    }
    const rev = this.revision + 1;
    const events: WatchEvent[] = [];
    const gets: (KeyValue | undefined)[] = [];
    let deleted = 0;
    for (const op of ops) {
      switch (op.type) {
        case 'put':
          events.push(this.#put(rev, op.key, op.value, op.lease ?? 0));
          break;
        case 'delete': {
          const e = this.#deleteKey(rev, op.key);
          if (e !== undefined) {
            events.push(e);
            deleted++;
          }
          break;
        }
        case 'deletePrefix': {
          const es = this.#deletePrefix(rev, op.prefix);
          for (const e of es) events.push(e);
          deleted += es.length;
          break;
        }
        case 'get':
          gets.push(this.#get(op.key));
          break;
      }
    }
    if (events.length > 0) this.#record(rev, events);
    return { succeeded, revision: this.revision, gets, deleted };
  }

  grant(ttlSeconds: number): Lease {
    const ttlMs = Math.round(ttlSeconds * 1000);
    const r = this.#st.insertLease.run(ttlMs, this.#clock.now() + ttlMs);
    this.leasesTouched = true;
    return { id: Number(r.lastInsertRowid), ttlSeconds: ttlMs / 1000 };
  }

  keepAlive(id: LeaseId): Lease {
    const now = this.#clock.now();
    const lease = this.#requireLease(id, now);
    this.#st.renewLease.run(now + lease.ttl_ms, id);
    this.leasesTouched = true;
    return { id, ttlSeconds: lease.ttl_ms / 1000 };
  }

  /** Deletes the lease and its keys (one revision when there were keys). */
  revoke(id: LeaseId): void {
    if (this.#st.getLease.get(id) === undefined) return;
    const rows = this.#st.kvByLease.all(id) as unknown as KvRow[];
    this.#st.deleteLease.run(id);
    this.leasesTouched = true;
    if (rows.length === 0) return;
    const rev = this.revision + 1;
    const events: WatchEvent[] = [];
    for (const row of rows) {
      this.#st.deleteKv.run(row.key);
      events.push(makeEvent('delete', tombstone(row.key, rev), kvFromRow(row)));
    }
    this.#record(rev, events);
  }

  /**
   * Gives every lease its full TTL again, from now (as etcd does when a new leader takes over):
   * time the store was closed does not count against a lease. Returns how many there are.
   */
  renewAll(): number {
    const r = this.#st.renewAllLeases.run(this.#clock.now());
    this.leasesTouched = true;
    return Number(r.changes);
  }

  /** Revokes every lease whose expiry has passed, each in its own revision. Returns their ids. */
  expire(): LeaseId[] {
    const ids = (this.#st.expiredLeases.all(this.#clock.now()) as unknown as { id: number }[]).map(
      (r) => r.id,
    );
    for (const id of ids) this.revoke(id);
    return ids;
  }

  compact(revision: number): void {
    if (revision > this.revision) {
      throw new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `cannot compact to revision ${revision}: the store is at revision ${this.revision}`,
        { details: { revision, current: this.revision } },
      );
    }
    if (revision <= this.compactRevision) return;
    this.#st.deleteHistoryBefore.run(revision);
    this.compactRevision = revision;
  }

  /** Keeps about `retention` revisions of history, trimming in steps of `step` revisions. */
  autoCompact(retention: number, step: number): void {
    const kept = this.revision - this.compactRevision + 1;
    if (kept > retention + step) this.compact(this.revision - retention + 1);
  }

  /** Persists the counters; call once, just before COMMIT. */
  finish(): void {
    if (this.revision !== this.#startRevision) this.#st.setMeta.run(this.revision, 'revision');
    if (this.compactRevision !== this.#startCompact)
      this.#st.setMeta.run(this.compactRevision, 'compact_rev');
  }

  #get(key: string): KeyValue | undefined {
    const row = this.#st.getKv.get(key) as KvRow | undefined;
    return row === undefined ? undefined : kvFromRow(row);
  }

  #holds(c: Compare): boolean {
    const kv = this.#get(c.key);
    switch (c.target) {
      case 'mod':
        return compareNumbers(kv?.modRevision ?? 0, c.op, c.modRevision);
      case 'create':
        return compareNumbers(kv?.createRevision ?? 0, c.op, c.createRevision);
      case 'value':
        // As etcd: a value comparison on a missing key is false, whatever the operator.
        if (kv === undefined) return false;
        return c.op === '=' ? kv.value === c.value : kv.value !== c.value;
    }
  }

  #requireLease(id: LeaseId, now: number): LeaseRow {
    const lease = this.#st.getLease.get(id) as LeaseRow | undefined;
    if (lease === undefined || lease.expires_at <= now) throw new LeaseNotFoundError(id);
    return lease;
  }

  #put(rev: number, key: string, value: string, lease: LeaseId): WatchEvent {
    const prev = this.#get(key);
    const kv: KeyValue = {
      key,
      value,
      createRevision: prev?.createRevision ?? rev,
      modRevision: rev,
      version: (prev?.version ?? 0) + 1,
      lease,
    };
    if (prev === undefined) this.#st.insertKv.run(key, value, rev, rev, kv.version, lease);
    else this.#st.updateKv.run(value, rev, kv.version, lease, key);
    return makeEvent('put', kv, prev);
  }

  #deleteKey(rev: number, key: string): WatchEvent | undefined {
    const prev = this.#get(key);
    if (prev === undefined) return undefined;
    this.#st.deleteKv.run(key);
    return makeEvent('delete', tombstone(key, rev), prev);
  }

  #deletePrefix(rev: number, prefix: string): WatchEvent[] {
    const end = prefixEnd(prefix);
    const rows = (end === undefined
      ? this.#st.rangeFrom.all(prefix, -1)
      : this.#st.rangeBetween.all(prefix, end, -1)) as unknown as KvRow[];
    if (rows.length === 0) return [];
    if (end === undefined) this.#st.deleteFrom.run(prefix);
    else this.#st.deleteBetween.run(prefix, end);
    return rows.map((row) => makeEvent('delete', tombstone(row.key, rev), kvFromRow(row)));
  }

  #record(rev: number, events: WatchEvent[]): void {
    for (const e of events) {
      const p = e.prevKv;
      this.#st.insertHistory.run(
        rev,
        e.type === 'delete' ? 1 : 0,
        e.kv.key,
        e.kv.value,
        e.kv.createRevision,
        e.kv.version,
        e.kv.lease,
        p?.value ?? null,
        p?.createRevision ?? null,
        p?.modRevision ?? null,
        p?.version ?? null,
        p?.lease ?? null,
      );
    }
    this.revision = rev;
    this.published.push({ revision: rev, events });
  }
}

function compareNumbers(actual: number, op: '=' | '<' | '>' | '!=', expected: number): boolean {
  switch (op) {
    case '=':
      return actual === expected;
    case '!=':
      return actual !== expected;
    case '<':
      return actual < expected;
    case '>':
      return actual > expected;
  }
}

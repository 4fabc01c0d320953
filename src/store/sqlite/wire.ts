/**
 * What the SQLite store's two threads say to each other (structured clone over the worker's port):
 * the API's thread sends batches of writes and reads; the store thread (engine.ts, run by
 * worker.ts) answers each request, in the order they were sent. Errors cross as plain data and are
 * rebuilt as the same DabbaError classes on the other side.
 */
import {
  DabbaError,
  LeaseNotFoundError,
  StorageFullError,
  StorageReadOnlyError,
  StoreError,
  isDabbaError,
  messageOf,
  type ErrorDetails,
  type StorageFaultDetails,
} from '../../errors/index.ts';
import type { ErrorCode } from '../../errors/codes.ts';
import type { KeyValue, TxnRequest, WatchEvent } from '../store.ts';
import type { PackedPublished, WireWriteOp } from './packed.ts';

/** One write request of a group commit; each runs in its own savepoint and takes its own revision(s). */
export type WriteOp =
  | { kind: 'txn'; request: TxnRequest }
  | { kind: 'grant'; ttlSeconds: number }
  | { kind: 'keepAlive'; id: number }
  | { kind: 'revoke'; id: number }
  | { kind: 'compact'; revision: number }
  | { kind: 'expire' }
  | { kind: 'renewAll' };

/** What to open: the file, its page cache, and how much history it keeps. */
export interface OpenOptions {
  file: string;
  cacheMiB: number;
  /** Revisions of history kept (older ones compacted), and the step it is trimmed by. */
  retention: number;
  compactStep: number;
}

/** A request to the store thread about one open store file (`db`). */
export type Call =
  | { type: 'open'; options: OpenOptions }
  /** `now`: the time leases are judged by; absent, the store thread's own clock when it runs. */
  /** `ops` packed (packed.ts). */
  | { type: 'batch'; ops: WireWriteOp[]; now?: number; faulted: boolean }
  | { type: 'get'; key: string }
  | { type: 'range'; prefix: string; limit: number }
  | { type: 'history'; prefix: string; from: number; to: number; limit: number }
  | { type: 'close' };

export type Request = Call & { id: number; db: number };

export type Response = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

/** The answer to `open`: the file's counters. */
export interface Opened {
  revision: number;
  compactRevision: number;
}

export type WireOutcome = { ok: true; value: unknown } | { ok: false; error: WireError };

/** The answer to a batch. */
export interface BatchResult {
  /** One per write, in order; absent when the whole commit failed (`failed`). */
  outcomes?: WireOutcome[];
  /** The commit failed: every write of the batch gets this error. */
  failed?: WireError;
  /** A storage fault (full, read-only) refused `writes` writes of this batch. */
  storage?: { error: WireError; writes: number };
  /** The commit failed for another reason (for the log). */
  commitError?: string;
  revision: number;
  compactRevision: number;
  /**
   * The revisions the batch made with their events, and the write that made each (packed.ts). The
   * value of a put event does not cross back (it is the value the write sent): `fillPutValues`
   * puts it back.
   */
  published: PackedPublished;
  /** Earliest lease expiry (ms since the epoch), null when there is no lease. */
  nextLeaseExpiry: number | null;
}

export interface HistoryResult {
  events?: WatchEvent[];
  next?: number;
  /** History was compacted past `from` before the read ran: the oldest kept revision. */
  compacted?: number;
}

export interface RangeReply {
  kvs: KeyValue[];
  revision: number;
}

export interface WireError {
  code?: string;
  name: string;
  message: string;
  details?: ErrorDetails;
  cause?: string;
}

export function toWire(e: unknown): WireError {
  const cause = (e as { cause?: unknown } | null)?.cause;
  const causeText = cause === undefined ? undefined : messageOf(cause);
  const base = causeText === undefined ? {} : { cause: causeText };
  if (isDabbaError(e)) return { code: e.code, name: e.name, message: e.message, details: e.details, ...base };
  if (e instanceof Error) return { name: e.name, message: e.message, ...base };
  return { name: 'Error', message: messageOf(e) };
}

/** The error `w` described, as the class it was thrown as (its cause kept as text). */
export function fromWire(w: WireError): Error {
  const options = w.cause === undefined ? {} : { cause: new Error(w.cause) };
  const details = w.details ?? {};
  switch (w.code) {
    case undefined:
      return Object.assign(new Error(w.message, options), { name: w.name });
    case 'DABBA_E_LEASE_NOT_FOUND':
      return new LeaseNotFoundError((details['lease'] as number | string | undefined) ?? '?');
    case 'DABBA_E_STORAGE_FULL':
      return new StorageFullError(w.message, details as StorageFaultDetails, options);
    case 'DABBA_E_STORAGE_READONLY':
      return new StorageReadOnlyError(w.message, details as StorageFaultDetails, options);
    case 'DABBA_E_STORE':
      return new StoreError(w.message, { ...options, details });
    default:
      return new DabbaError(w.code as ErrorCode, w.message, { ...options, details });
  }
}

/**
 * Puts back the values of the put events of a revision made by `op`, whose outcome was `value`:
 * each put op of the branch that ran made one put event, in order.
 */
export function fillPutValues(events: WatchEvent[], op: WriteOp, value: unknown): void {
  if (op.kind !== 'txn') return;
  const branch = (value as { succeeded: boolean }).succeeded
    ? op.request.success
    : (op.request.failure ?? []);
  let i = 0;
  for (const e of events) {
    if (e.type !== 'put') continue;
    while (i < branch.length && branch[i]?.type !== 'put') i++;
    const put = branch[i++];
    if (put?.type === 'put') e.kv.value = put.value;
  }
}

/** Freezes events that crossed the port (watchers share them: see rows.ts makeEvent). */
export function freezeEvents(events: WatchEvent[]): WatchEvent[] {
  for (const e of events) {
    Object.freeze(e.kv);
    if (e.prevKv !== undefined) Object.freeze(e.prevKv);
    Object.freeze(e);
  }
  return events;
}

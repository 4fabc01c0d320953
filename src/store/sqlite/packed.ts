/**
 * The compact forms of what a group commit sends to the store thread and gets back: a txn's ops,
 * and the events of the revisions it made, each as one flat array of strings and numbers instead of
 * an object per op or event. Structured clone writes every object's property names and builds an
 * object per op on the other side; a flat array is a run of tagged values. The scheduler's plans
 * (two puts per placed task) were the bulk of it: `postMessage` was 3.7% of the API thread in the
 * scale benchmark.
 *
 * A put whose value is the very string of the put before it in the same branch (a task record and
 * its assignment) crosses as a marker, and the store thread takes the previous value again: the
 * value's characters cross once.
 */
import type { Compare, KeyValue, TxnOp, TxnRequest, WatchEvent } from '../store.ts';
import type { WriteOp } from './wire.ts';

/** A txn's ops in order: per op its tag, then its fields (see `packOps`). */
export type PackedOps = (string | number)[];

/** A write as it crosses to the store thread: a txn's branches packed, the other writes as they are. */
export type WireWriteOp =
  | Exclude<WriteOp, { kind: 'txn' }>
  | { kind: 'txn'; compare: Compare[]; success: PackedOps; failure?: PackedOps };

const PUT = 0;
/** A put whose value is the previous put's of the branch. */
const PUT_AGAIN = 1;
const DELETE = 2;
const DELETE_PREFIX = 3;
const GET = 4;

/** Values shorter than this are sent as they are (the marker would save nothing worth it). */
const MIN_SHARED = 64;

/** put: PUT key value lease | PUT_AGAIN key lease; delete: DELETE key; deletePrefix: DELETE_PREFIX prefix; get: GET key. */
export function packOps(ops: readonly TxnOp[]): PackedOps {
  const out: PackedOps = [];
  let prev: string | undefined;
  for (const op of ops) {
    switch (op.type) {
      case 'put':
        if (op.value.length >= MIN_SHARED && op.value === prev) out.push(PUT_AGAIN, op.key, op.lease ?? 0);
        else out.push(PUT, op.key, op.value, op.lease ?? 0);
        prev = op.value;
        break;
      case 'delete':
        out.push(DELETE, op.key);
        break;
      case 'deletePrefix':
        out.push(DELETE_PREFIX, op.prefix);
        break;
      case 'get':
        out.push(GET, op.key);
        break;
    }
  }
  return out;
}

export function unpackOps(p: PackedOps): TxnOp[] {
  const ops: TxnOp[] = [];
  let prev = '';
  let i = 0;
  const put = (key: string, value: string, lease: number): void => {
    ops.push(lease === 0 ? { type: 'put', key, value } : { type: 'put', key, value, lease });
    prev = value;
  };
  while (i < p.length) {
    const tag = p[i++] as number;
    const key = p[i++] as string;
    if (tag === PUT) {
      const value = p[i++] as string;
      put(key, value, p[i++] as number);
    } else if (tag === PUT_AGAIN) put(key, prev, p[i++] as number);
    else if (tag === DELETE) ops.push({ type: 'delete', key });
    else if (tag === DELETE_PREFIX) ops.push({ type: 'deletePrefix', prefix: key });
    else ops.push({ type: 'get', key });
  }
  return ops;
}

/** The batch as it is sent: the callers' ops are not changed (their values fill watch events). */
export function packWrites(ops: readonly WriteOp[]): WireWriteOp[] {
  return ops.map((op) => {
    if (op.kind !== 'txn') return op;
    const { compare, success, failure } = op.request;
    const packed: WireWriteOp = { kind: 'txn', compare, success: packOps(success) };
    if (failure !== undefined) packed.failure = packOps(failure);
    return packed;
  });
}

/** On the store thread: the writes as they were given. */
export function unpackWrites(ops: readonly WireWriteOp[]): WriteOp[] {
  return ops.map((op) => {
    if (op.kind !== 'txn') return op;
    const request: TxnRequest = { compare: op.compare, success: unpackOps(op.success) };
    if (op.failure !== undefined) request.failure = unpackOps(op.failure);
    return { kind: 'txn', request };
  });
}

/**
 * The revisions a batch made, with their events, as one flat array: per revision `revision op n`
 * (`op`: the index of the write that made it), then its n events, each
 * `0 key createRevision version lease` (a put; its value does not cross: it is the value the write
 * sent, see `fillPutValues`) or `1 key` (a delete), followed by `0` or by
 * `1 value createRevision modRevision version lease` (the key's previous value).
 */
export type PackedPublished = (string | number)[];

export function packPublished(
  published: readonly { revision: number; events: readonly WatchEvent[] }[],
  opOf: readonly number[],
): PackedPublished {
  const out: PackedPublished = [];
  published.forEach((p, r) => {
    out.push(p.revision, opOf[r] ?? -1, p.events.length);
    for (const e of p.events) {
      if (e.type === 'put') out.push(0, e.kv.key, e.kv.createRevision, e.kv.version, e.kv.lease);
      else out.push(1, e.kv.key);
      const prev = e.prevKv;
      if (prev === undefined) out.push(0);
      else out.push(1, prev.value, prev.createRevision, prev.modRevision, prev.version, prev.lease);
    }
  });
  return out;
}

/** Calls `each` with every revision's events (put values '', not yet frozen), in order. */
export function unpackPublished(
  p: PackedPublished,
  each: (revision: number, op: number, events: WatchEvent[]) => void,
): void {
  let i = 0;
  while (i < p.length) {
    const revision = p[i++] as number;
    const op = p[i++] as number;
    const n = p[i++] as number;
    const events: WatchEvent[] = [];
    for (let k = 0; k < n; k++) {
      const type = p[i++] as number;
      const key = p[i++] as string;
      const kv: KeyValue =
        type === 0
          ? {
              key,
              value: '',
              createRevision: p[i++] as number,
              modRevision: revision,
              version: p[i++] as number,
              lease: p[i++] as number,
            }
          : { key, value: '', createRevision: 0, modRevision: revision, version: 0, lease: 0 };
      let prevKv: KeyValue | undefined;
      if (p[i++] === 1) {
        prevKv = {
          key,
          value: p[i++] as string,
          createRevision: p[i++] as number,
          modRevision: p[i++] as number,
          version: p[i++] as number,
          lease: p[i++] as number,
        };
      }
      const t = type === 0 ? 'put' : 'delete';
      events.push(prevKv === undefined ? { type: t, kv } : { type: t, kv, prevKv });
    }
    each(revision, op, events);
  }
}

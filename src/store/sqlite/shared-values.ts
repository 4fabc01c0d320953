/**
 * Repeated put values on the port to the store thread: a put whose value is the very string of the
 * put before it in the same branch (a task record and its assignment hold the same JSON) crosses as
 * a marker, and the store thread takes the previous value again. Structured clone copies every
 * string it meets, so this halves what a scheduler plan costs to send (both threads' work, and
 * garbage on both).
 */
import type { TxnOp, TxnRequest } from '../store.ts';
import type { WriteOp } from './wire.ts';

type Put = Extract<TxnOp, { type: 'put' }>;
/** A put as it crosses: with `again`, its value is the previous put's of the same branch. */
type WirePut = Put & { again?: true };

/** Values shorter than this are sent as they are (the marker would save nothing worth it). */
const MIN_SHARED = 64;

function shareBranch(ops: TxnOp[]): TxnOp[] {
  let prev: string | undefined;
  let out: TxnOp[] | undefined;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if (op.type !== 'put') continue;
    if (op.value.length >= MIN_SHARED && op.value === prev) {
      out ??= ops.slice();
      const marker: WirePut = { ...op, value: '', again: true };
      out[i] = marker;
    }
    prev = op.value;
  }
  return out ?? ops;
}

/** The batch as it is sent: the callers' ops are not changed (their values fill watch events). */
export function shareRepeatedValues(ops: readonly WriteOp[]): WriteOp[] {
  return ops.map((op) => {
    if (op.kind !== 'txn') return op;
    const success = shareBranch(op.request.success);
    const failure = op.request.failure === undefined ? undefined : shareBranch(op.request.failure);
    if (success === op.request.success && failure === op.request.failure) return op;
    const request: TxnRequest = { ...op.request, success };
    if (failure !== undefined) request.failure = failure;
    return { kind: 'txn', request };
  });
}

function restoreBranch(ops: TxnOp[] | undefined): void {
  let prev = '';
  for (const op of ops ?? []) {
    if (op.type !== 'put') continue;
    const w = op as WirePut;
    if (w.again === true) {
      w.value = prev;
      delete w.again;
    }
    prev = w.value;
  }
}

/** On the store thread: puts the shared values back, in place (the thread's own copy of the batch). */
export function restoreRepeatedValues(ops: WriteOp[]): void {
  for (const op of ops) {
    if (op.kind !== 'txn') continue;
    restoreBranch(op.request.success);
    restoreBranch(op.request.failure);
  }
}

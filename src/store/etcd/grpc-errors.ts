/**
 * What a failed etcd call means for a retry: whether the request surely did not run (safe to send
 * again anywhere), may or may not have run (only idempotent requests may be sent again), or was
 * answered by etcd with a definite error (never retried; the caller maps it).
 */

/** A gRPC error as @grpc/grpc-js reports it. */
export interface GrpcError extends Error {
  code?: number;
  details?: string;
}

export type Failure = 'not-sent' | 'unknown' | 'answered';

const CANCELLED = 1;
const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/** Transport and server states in which the request never reached raft. */
const NOT_SENT =
  /No connection established|ECONNREFUSED|etcdserver: no leader|etcdserver: not capable|raft proposal dropped|etcdserver: too many requests/;

/** The request may have been proposed; nobody can tell whether it was applied. */
const UNKNOWN =
  /etcdserver: request timed out|etcdserver: leader changed|etcdserver: server stopped|etcdserver: request cancelled/;

export function isGrpcError(e: unknown): e is GrpcError {
  return e instanceof Error && typeof (e as GrpcError).code === 'number';
}

export function detailsOf(e: unknown): string {
  if (isGrpcError(e)) return e.details ?? e.message;
  return e instanceof Error ? e.message : String(e);
}

export function classify(e: unknown): Failure {
  if (!isGrpcError(e)) return 'answered';
  const d = detailsOf(e);
  if (NOT_SENT.test(d)) return 'not-sent';
  if (UNKNOWN.test(d)) return 'unknown';
  switch (e.code) {
    case UNAVAILABLE:
    case DEADLINE_EXCEEDED:
    case CANCELLED:
    case INTERNAL:
      // Connection lost, deadline hit, stream reset: the request may have been sent.
      return 'unknown';
    default:
      return 'answered';
  }
}

/** etcd's own message for a definite answer ("etcdserver: requested lease not found"). */
export function etcdMessage(e: unknown): string {
  return detailsOf(e).replace(/^etcdserver: /, '');
}

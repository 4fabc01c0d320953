import type { ErrorCode } from './codes.ts';
import { httpStatusFor } from './codes.ts';

export type ErrorDetails = Record<string, unknown>;

/** Base class of every error Dabba raises on purpose. Carries a stable code, details and a cause. */
export class DabbaError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, options: { details?: ErrorDetails; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.details = options.details ?? {};
  }

  get httpStatus(): number {
    return httpStatusFor(this.code);
  }

  toJSON(): { code: ErrorCode; message: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** One problem in user input, located as precisely as we can. */
export interface ValidationIssue {
  /** Field path, e.g. "task.resources.memory" or "replicas". */
  path: string;
  message: string;
  expected?: string;
  found?: string;
  file?: string;
  line?: number;
  column?: number;
}

export class ValidationError extends DabbaError {
  readonly issues: ValidationIssue[];
  constructor(message: string, issues: ValidationIssue[], options: { cause?: unknown } = {}) {
    super('DABBA_E_VALIDATION', message, { details: { issues }, ...options });
    this.issues = issues;
  }
}

export class NotFoundError extends DabbaError {
  constructor(what: string, name: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super('DABBA_E_NOT_FOUND', `${what} "${name}" not found`, {
      details: { kind: what, name, ...options.details },
      cause: options.cause,
    });
  }
}

export class ConflictError extends DabbaError {
  constructor(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super('DABBA_E_CONFLICT', message, options);
  }
}

/** A watch asked for a revision the store no longer keeps: re-list, then watch from the new revision. */
export class CompactedError extends DabbaError {
  readonly compactRevision: number;
  constructor(requested: number, compactRevision: number) {
    super(
      'DABBA_E_COMPACTED',
      `revision ${requested} has been compacted (oldest kept is ${compactRevision}); re-list and watch again`,
      { details: { requested, compactRevision } },
    );
    this.compactRevision = compactRevision;
  }
}

export class LeaseNotFoundError extends DabbaError {
  constructor(id: number | string) {
    super('DABBA_E_LEASE_NOT_FOUND', `lease ${id} not found (expired or revoked)`, {
      details: { lease: id },
    });
  }
}

export class StoreError extends DabbaError {
  constructor(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super('DABBA_E_STORE', message, options);
  }
}

export class UnavailableError extends DabbaError {
  constructor(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super('DABBA_E_UNAVAILABLE', message, options);
  }
}

export class RuntimeError extends DabbaError {
  constructor(message: string, options: { cause?: unknown; details?: ErrorDetails } = {}) {
    super('DABBA_E_RUNTIME', message, options);
  }
}

export function isDabbaError(e: unknown): e is DabbaError {
  return e instanceof DabbaError;
}

/** A short human message for any thrown value. */
export function messageOf(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

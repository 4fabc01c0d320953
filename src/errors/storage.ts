/**
 * Storage faults: a write refused for lack of space or because the file system turned read-only.
 * `storageFaultOf` recognises them in whatever raised them (Node's errno errors, node:sqlite, etcd's
 * NOSPACE alarm, or our own codes), following `cause` chains.
 */
import { DabbaError, type ErrorDetails } from './dabba-error.ts';

export type StorageFault = 'full' | 'read-only';

export interface StorageFaultDetails extends ErrorDetails {
  /** The directory (or store) the write was for. */
  where: string;
  /** full: no space left; read-only: EROFS; watermark: free space below the server's watermark. */
  reason: 'full' | 'read-only' | 'watermark';
  freeBytes?: number;
  totalBytes?: number;
}

/** DABBA_E_STORAGE_FULL (507): a write refused for lack of space. */
export class StorageFullError extends DabbaError {
  constructor(message: string, details: StorageFaultDetails, options: { cause?: unknown } = {}) {
    super('DABBA_E_STORAGE_FULL', message, { details, cause: options.cause });
  }
}

/** DABBA_E_STORAGE_READONLY (507): a write refused because the file system is read-only. */
export class StorageReadOnlyError extends DabbaError {
  constructor(message: string, details: StorageFaultDetails, options: { cause?: unknown } = {}) {
    super('DABBA_E_STORAGE_READONLY', message, { details, cause: options.cause });
  }
}

const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_FULL = 13;

/** node:sqlite's error: `errcode` is SQLite's (possibly extended) result code. */
function sqliteCode(e: object): number | undefined {
  const c = (e as { code?: unknown; errcode?: unknown }).errcode;
  return (e as { code?: unknown }).code === 'ERR_SQLITE_ERROR' && typeof c === 'number'
    ? c & 0xff
    : undefined;
}

/**
 * Whether e (or one of its causes) is a storage fault, and which. A SQLite I/O error is reported as
 * 'io': it may be either (the caller looks at the file system to tell).
 */
export function storageFaultOf(e: unknown): StorageFault | 'io' | undefined {
  for (let x: unknown = e, depth = 0; x !== null && typeof x === 'object' && depth < 8; depth++) {
    if (x instanceof DabbaError) {
      if (x.code === 'DABBA_E_STORAGE_FULL') return 'full';
      if (x.code === 'DABBA_E_STORAGE_READONLY') return 'read-only';
    }
    const code = (x as { code?: unknown }).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') return 'full';
    if (code === 'EROFS') return 'read-only';
    const sqlite = sqliteCode(x);
    if (sqlite === SQLITE_FULL) return 'full';
    if (sqlite === SQLITE_READONLY) return 'read-only';
    if (sqlite === SQLITE_IOERR) return 'io';
    const { details, message } = x as { details?: unknown; message?: unknown };
    const text = `${typeof details === 'string' ? details : ''} ${typeof message === 'string' ? message : ''}`;
    if (/database space exceeded|NOSPACE/.test(text)) return 'full';
    x = (x as { cause?: unknown }).cause;
  }
  return undefined;
}

/** True for the two storage error codes (what the API answers with 507). */
export function isStorageError(e: unknown): e is StorageFullError | StorageReadOnlyError {
  return (
    e instanceof DabbaError && (e.code === 'DABBA_E_STORAGE_FULL' || e.code === 'DABBA_E_STORAGE_READONLY')
  );
}

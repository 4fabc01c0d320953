/**
 * The SQLite store on a full or read-only disk: which failures those are, the error the writer gets
 * (DABBA_E_STORAGE_FULL / DABBA_E_STORAGE_READONLY saying where and how much is free), and the
 * store's memory of being in that state, so that it is logged once, not per write.
 *
 * SQLite rolls a transaction back by itself on SQLITE_FULL and on I/O errors: a failed group commit
 * leaves nothing behind, and the next one, once there is room, simply works.
 */
import { dirname } from 'node:path';
import {
  StorageFullError,
  StorageReadOnlyError,
  storageFaultOf,
  type DabbaError,
  type StorageFault,
} from '../../errors/index.ts';
import { describeSpace, diskSpaceSync, writableFsSync } from '../../lib/disk-space.ts';
import type { Logger } from '../../lib/index.ts';
import { writeRefusedSync } from '../../lib/write-probe.ts';

/** The storage error for a failed write to the store file at `file`, or undefined if not one. */
export function storageErrorFor(e: unknown, file: string): DabbaError | undefined {
  const fault = storageFaultOf(e);
  if (fault === undefined) return undefined;
  const where = dirname(file);
  let kind: StorageFault;
  if (fault === 'io') {
    // An I/O error: read-only or full are what we can name; anything else stays a store error.
    if (!writableFsSync(where) || writeRefusedSync(where) !== undefined) kind = 'read-only';
    else if (diskSpaceSync(where)?.freeBytes === 0) kind = 'full';
    else return undefined;
  } else kind = fault;
  const space = diskSpaceSync(where);
  const details = {
    where,
    reason: kind,
    ...(space === undefined ? {} : { freeBytes: space.freeBytes, totalBytes: space.totalBytes }),
  };
  return kind === 'full'
    ? new StorageFullError(
        `the store cannot write: no space left in ${where} (${describeSpace(space)}); reads still work, writes resume once there is room`,
        details,
        { cause: e },
      )
    : new StorageReadOnlyError(
        `the store cannot write: ${where} is on a read-only file system; reads still work, writes resume once it is writable`,
        details,
        { cause: e },
      );
}

/** Whether the store's writes are failing for lack of space or a read-only disk; logs each change once. */
export class WriteFaultState {
  readonly #log: Logger;
  #fault: DabbaError | undefined;
  #since = 0;
  #refused = 0;

  constructor(log: Logger) {
    this.#log = log;
  }

  get faulted(): boolean {
    return this.#fault !== undefined;
  }

  /** A commit failed with a storage error. */
  failed(err: DabbaError, writes: number): void {
    this.#refused += writes;
    if (this.#fault !== undefined) return;
    this.#fault = err;
    this.#since = Date.now();
    this.#log.error(
      { code: err.code, details: err.details, cause: (err.cause as Error | undefined)?.message },
      `store writes refused: ${err.message}`,
    );
  }

  /** A commit succeeded: if writes were failing, they are back. */
  recovered(): void {
    if (this.#fault === undefined) return;
    this.#log.info(
      { code: this.#fault.code, refused: this.#refused, forMs: Date.now() - this.#since },
      'store writes resumed; leases were given a full TTL again',
    );
    this.#fault = undefined;
    this.#refused = 0;
  }
}

import { acceptFaults, logFaults, processFaults } from '../../lib/index.ts';
import type { StorageHealth } from './storage-guard.ts';

export { StorageGuard, type StorageGuardOptions, type StorageHealth } from './storage-guard.ts';
export { observeStore, type WriteObserver } from './observed-store.ts';

/** What the API needs of the storage guard. */
export interface StorageHooks {
  health(): StorageHealth;
  /** Throws DABBA_E_STORAGE_FULL / _READONLY for a request storing something new while space is short. */
  admit(method: string, pathname: string): void;
  /** Maps an error a request failed with (ENOSPC, EROFS anywhere) to the storage error codes. */
  failed(e: unknown): unknown;
}

/** The process's fault counters, as `GET /v1/health` shows them. */
export function faultCounts(): Record<string, number> {
  return {
    uncaughtExceptions: processFaults.uncaughtExceptions,
    unhandledRejections: processFaults.unhandledRejections,
    acceptErrors: acceptFaults.errors,
    logWriteErrors: logFaults.errors,
    logLinesDropped: logFaults.droppedLines,
  };
}
export { timeStore, type StoreCallObserver } from './timed-store.ts';

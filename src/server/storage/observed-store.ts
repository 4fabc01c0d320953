/**
 * The store as the server's parts use it, with its writes observed: a write refused for lack of
 * space or on a read-only disk is reported to the storage guard (which says so once), and the first
 * write that succeeds again clears that. Everything else passes through unchanged.
 */
import { isStorageError } from '../../errors/index.ts';
import type { Store } from '../../store/index.ts';

const WRITES = new Set<string | symbol>([
  'put',
  'delete',
  'deletePrefix',
  'txn',
  'grantLease',
  'keepAlive',
  'revokeLease',
  'compact',
]);

export interface WriteObserver {
  writeFailed(e: unknown): void;
  writeSucceeded(): void;
}

export function observeStore(store: Store, observer: WriteObserver): Store {
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      const fn = value as (...args: unknown[]) => unknown;
      if (!WRITES.has(prop)) return fn.bind(target);
      return (...args: unknown[]) =>
        (fn.apply(target, args) as Promise<unknown>).then(
          (r) => {
            observer.writeSucceeded();
            return r;
          },
          (e: unknown) => {
            if (isStorageError(e)) observer.writeFailed(e);
            throw e;
          },
        );
    },
  });
}

/**
 * A Store whose calls are timed into the control plane's metrics (`dabba_store_operation_duration_seconds`
 * by operation, failures counted): every method that answers with a promise. Streams (watch) and
 * synchronous members pass through untouched.
 */
import type { Store } from '../../store/index.ts';

export interface StoreCallObserver {
  storeCall(op: string, seconds: number, failed: boolean): void;
}

export function timeStore(store: Store, observer: StoreCallObserver): Store {
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof value !== 'function') return value;
      const known = wrapped.get(prop);
      if (known !== undefined) return known;
      const fn = value as (...args: unknown[]) => unknown;
      const op = String(prop);
      const timed = (...args: unknown[]): unknown => {
        const at = performance.now();
        const r = fn.apply(target, args);
        if (!(r instanceof Promise)) return r;
        return r.then(
          (v: unknown) => {
            observer.storeCall(op, (performance.now() - at) / 1000, false);
            return v;
          },
          (e: unknown) => {
            observer.storeCall(op, (performance.now() - at) / 1000, true);
            throw e;
          },
        );
      };
      wrapped.set(prop, timed);
      return timed;
    },
  });
}

/**
 * Following what the mesh reads: yields a fresh value now and again after each store change under
 * the given prefixes that changes it. Bursts of changes are read once.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Store } from '../../store/index.ts';

/**
 * Re-reads `read()` whenever something under one of `prefixes` changes (from the revision after
 * the first read), yielding only values that differ from the last one yielded. Ends when `signal`
 * aborts; a failed watch ends the iteration with its error.
 */
export async function* follow<T extends { revision: number }>(
  store: Store,
  prefixes: readonly string[],
  read: () => Promise<T>,
  signal: AbortSignal,
): AsyncGenerator<T> {
  let last = await read();
  yield last;
  let dirty = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const poke = (): void => {
    dirty = true;
    wake?.();
  };
  const pumps = prefixes.map(async (prefix) => {
    try {
      for await (const _batch of store.watch(prefix, { signal, fromRevision: last.revision + 1 })) poke();
    } catch (e) {
      if (!signal.aborted) {
        failure = e instanceof Error ? e : new Error(String(e));
        poke();
      }
    }
  });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (!signal.aborted) {
      if (!dirty) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      if (signal.aborted) break;
      if (failure !== undefined) throw failure;
      dirty = false;
      const next = await read();
      const { revision: _a, ...a } = next;
      const { revision: _b, ...b } = last;
      if (!isDeepStrictEqual(a, b)) {
        last = next;
        yield next;
      }
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    await Promise.allSettled(pumps);
  }
}

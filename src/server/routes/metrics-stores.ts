/**
 * The time-series stores that hold points, listed in the cluster store under `/tsdb/stores/ID`
 * (`{store, replica, since}`): a replica writes its store's entry before it applies its first batch
 * (again after each restart, with its new replica id). A query uses the list to name a store that
 * gave no share and whose copies nobody holds, also once its replica is gone from `/servers/` (its
 * lease expired): without it such points would be left out silently.
 */
import type { Store } from '../../store/index.ts';

export const TSDB_STORES_PREFIX = '/tsdb/stores/';

interface StoreEntry {
  store: string;
  replica: string;
  since: number;
}

/** Known stores: store id -> the replica that registered it last. */
export async function knownStores(store: Store): Promise<Map<string, string>> {
  const r = await store.range(TSDB_STORES_PREFIX);
  const out = new Map<string, string>();
  for (const kv of r.kvs) {
    try {
      const e = JSON.parse(kv.value) as Partial<StoreEntry>;
      if (typeof e.store === 'string' && typeof e.replica === 'string') out.set(e.store, e.replica);
    } catch {
      // An unreadable entry is skipped.
    }
  }
  return out;
}

/** Writes this replica's store entry once per process (retried on the next call after a failure). */
export class StoreRegistration {
  readonly #store: Store;
  #done: Promise<void> | undefined;

  constructor(store: Store) {
    this.#store = store;
  }

  ensure(storeId: string, replica: string, now: number): Promise<void> {
    this.#done ??= this.#store
      .put(`${TSDB_STORES_PREFIX}${storeId}`, JSON.stringify({ store: storeId, replica, since: now }))
      .then(
        () => undefined,
        (e: unknown) => {
          this.#done = undefined;
          throw e;
        },
      );
    return this.#done;
  }
}

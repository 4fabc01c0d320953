import type { KeyValue, Store } from '../../store/index.ts';
export { getJson } from '../../store/index.ts';

/** Values in the store are JSON documents written by the control plane itself. */
export function decode<T>(kv: KeyValue): T {
  return JSON.parse(kv.value) as T;
}

export async function rangeJson<T>(store: Store, prefix: string): Promise<T[]> {
  const { kvs } = await store.range(prefix);
  return kvs.map((kv) => decode<T>(kv));
}

import { StoreError } from '../errors/index.ts';
import type { KeyValue, PutOptions, Store, WriteResult } from './store.ts';

/** A JSON value read from the store, with the key's revisions (for compare-and-swap). */
export interface JsonEntry<T> {
  value: T;
  kv: KeyValue;
}

/**
 * Reads key and parses its JSON. `parse` checks the shape (e.g. a zod schema's parse); without it the
 * value is trusted to be a T. Undefined when the key does not exist; StoreError when it holds no JSON.
 */
export async function getJson<T>(
  store: Store,
  key: string,
  parse: (raw: unknown) => T = (raw) => raw as T,
): Promise<JsonEntry<T> | undefined> {
  const kv = await store.get(key);
  if (kv === undefined) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(kv.value);
  } catch (e) {
    throw new StoreError(`value of ${key} is not JSON`, { cause: e, details: { key } });
  }
  return { value: parse(raw), kv };
}

/** Writes value as JSON under key. */
export function putJson(
  store: Store,
  key: string,
  value: unknown,
  options?: PutOptions,
): Promise<WriteResult> {
  return store.put(key, JSON.stringify(value), options);
}

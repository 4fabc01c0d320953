import { keys, readTaskValues, type Task } from '../../model/index.ts';
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

/**
 * The tasks under `prefix` (/tasks/..., /assign/...), their specs resolved from their job versions
 * (task records refer to them: model/task-record.ts).
 */
export async function rangeTasks(store: Store, prefix: string): Promise<Task[]> {
  const { kvs } = await store.range(prefix);
  return readTaskValues(
    kvs.map((kv) => kv.value),
    store,
  );
}

/** One task by its job and id, its spec resolved; undefined when there is none. */
export async function getTask(store: Store, job: string, id: string): Promise<Task | undefined> {
  const kv = await store.get(keys.task(job, id));
  return kv === undefined ? undefined : (await readTaskValues([kv.value], store))[0];
}

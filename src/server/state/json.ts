import { keys, readTaskValues, type Task, type VersionSource } from '../../model/index.ts';
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
 * (task records refer to them: model/task-record.ts). The versions are read together with the tasks
 * (one round trip, not two): those of `job` when the prefix holds only its tasks, else all of them.
 */
export async function rangeTasks(store: Store, prefix: string, job?: string): Promise<Task[]> {
  const covered = job === undefined ? keys.allJobVersionsPrefix : keys.jobVersionsPrefix(job);
  // Tasks first: a version a task names was written before it.
  const [tasks, versions] = await Promise.all([store.range(prefix), store.range(covered)]);
  return readTaskValues(
    tasks.kvs.map((kv) => kv.value),
    versionsFrom(versions.kvs, covered, store),
  );
}

/** One task by its job and id, its spec resolved; undefined when there is none. */
export async function getTask(store: Store, job: string, id: string): Promise<Task | undefined> {
  const covered = keys.jobVersionsPrefix(job);
  const [kv, versions] = await Promise.all([store.get(keys.task(job, id)), store.range(covered)]);
  if (kv === undefined) return undefined;
  return (await readTaskValues([kv.value], versionsFrom(versions.kvs, covered, store)))[0];
}

/**
 * A version source that answers from the version records read under `covered` (read after the tasks,
 * so every version those tasks name is among them unless it was purged since), and asks `store` for
 * others.
 */
function versionsFrom(read: readonly KeyValue[], covered: string, store: Store): VersionSource {
  const byKey = new Map(read.map((kv) => [kv.key, kv]));
  return {
    get: (key) => (key.startsWith(covered) ? Promise.resolve(byKey.get(key)) : store.get(key)),
    range: (prefix) =>
      prefix.startsWith(covered)
        ? Promise.resolve({ kvs: read.filter((kv) => kv.key.startsWith(prefix)) })
        : store.range(prefix),
  };
}

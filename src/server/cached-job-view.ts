/**
 * `GET /v1/jobs/NAME` answered from the scheduler's state cache instead of reading the job, its
 * versions, tasks, statuses, deployment and TaskControl state from the store (two round trips that
 * wait behind the group commits, and the parse of every task and status).
 *
 * Only when the answer is as current as a store read: the store must know its newest committed
 * revision without a round trip (`Store.knownRevision`: SQLite, the file's only writer; etcd does
 * not, other replicas write to it) and the cache must have applied it. Every write acknowledged
 * before the request came in is then in the answer (the cache applies a batch's events before the
 * next request is read), so a client reads its own writes and never goes back in time; writes
 * still being committed are not acknowledged to anyone yet, and a store read could be ordered
 * before them as well. Otherwise (cache not loaded, re-listing, or behind) the store is read.
 *
 * The JSON text of a view is kept until the job's part of the cache changes (`jobChange`), so a
 * job polled while nothing about it changes is served without building it again.
 */
import type { JobView, TaskRow } from '../model/index.ts';
import type { Store } from '../store/index.ts';
import type { StateCache } from './state-cache.ts';
import { assembleJobView, taskRow } from './state/views.ts';

/** Whether `cache` has applied the newest revision `store` committed (known without a round trip). */
function holdsEveryCommit(cache: StateCache, store: Store): boolean {
  const known = store.knownRevision?.();
  return known !== undefined && cache.revision > 0 && cache.revision >= known;
}

/** The job's view from `cache` when it holds every committed write of `store`, else undefined. */
export function cachedJobView(cache: StateCache, store: Store, job: string): JobView | undefined {
  if (!holdsEveryCommit(cache, store)) return undefined;
  const record = cache.jobs.get(job)?.value;
  // Not in the cache: the store's read answers (with its not-found error).
  if (record === undefined) return undefined;
  const statuses = cache.statuses.get(job);
  const tasks = [...(cache.tasks.get(job)?.values() ?? [])];
  // The store lists tasks in key order (/tasks/JOB/ID): by id, compared as the store compares keys.
  tasks.sort((a, b) => (a.value.id < b.value.id ? -1 : a.value.id > b.value.id ? 1 : 0));
  const rows: TaskRow[] = tasks.map((e) => taskRow(e.value, statuses?.get(e.value.id)));
  const deployment = cache.deployments.get(job)?.get(record.version);
  return assembleJobView(record, rows, deployment, cache.taskControls.get(job));
}

/** Views kept as JSON text, for the last few jobs asked for. */
const KEPT = 64;

export class CachedJobViews {
  readonly #kept = new Map<string, { cache: StateCache; change: number; text: string }>();
  readonly #cache: () => StateCache | undefined;
  readonly #store: Store;

  /** `cache`: the scheduler's cache once there is one; `store`: the store it watches. */
  constructor(cache: () => StateCache | undefined, store: Store) {
    this.#cache = cache;
    this.#store = store;
  }

  /** The job's view as JSON text when the cache is current (see above), else undefined. */
  json(job: string): string | undefined {
    const cache = this.#cache();
    if (cache === undefined || !holdsEveryCommit(cache, this.#store)) return undefined;
    const change = cache.jobChange(job);
    if (change === undefined) return undefined;
    const kept = this.#kept.get(job);
    if (kept !== undefined && kept.cache === cache && kept.change === change) return kept.text;
    const view = cachedJobView(cache, this.#store, job);
    if (view === undefined) return undefined;
    const text = JSON.stringify(view);
    this.#kept.delete(job);
    this.#kept.set(job, { cache, change, text });
    if (this.#kept.size > KEPT) this.#kept.delete(this.#kept.keys().next().value!);
    return text;
  }
}

import type { KeyValue, WatchEvent } from '../store.ts';

/** A row of the kv table. */
export interface KvRow {
  key: string;
  value: string;
  create_rev: number;
  mod_rev: number;
  version: number;
  lease: number;
}

/** A row of the history table: one event, with the key's previous state when there was one. */
export interface HistoryRow {
  id: number;
  rev: number;
  deleted: number;
  key: string;
  value: string;
  create_rev: number;
  version: number;
  lease: number;
  prev_value: string | null;
  prev_create_rev: number | null;
  prev_mod_rev: number | null;
  prev_version: number | null;
  prev_lease: number | null;
}

export function kvFromRow(r: KvRow): KeyValue {
  return {
    key: r.key,
    value: r.value,
    createRevision: r.create_rev,
    modRevision: r.mod_rev,
    version: r.version,
    lease: r.lease,
  };
}

/** The kv of a delete event (etcd's shape): the key, the delete's revision, everything else empty. */
export function tombstone(key: string, revision: number): KeyValue {
  return { key, value: '', createRevision: 0, modRevision: revision, version: 0, lease: 0 };
}

/**
 * Events are shared by every watcher of a prefix (and by the history cache of nobody), so they are
 * frozen: a consumer that tries to modify one fails loudly instead of corrupting its neighbours.
 */
export function makeEvent(type: 'put' | 'delete', kv: KeyValue, prevKv: KeyValue | undefined): WatchEvent {
  Object.freeze(kv);
  if (prevKv === undefined) return Object.freeze({ type, kv });
  Object.freeze(prevKv);
  return Object.freeze({ type, kv, prevKv });
}

export function eventFromHistory(r: HistoryRow): WatchEvent {
  const prev: KeyValue | undefined =
    r.prev_value === null
      ? undefined
      : {
          key: r.key,
          value: r.prev_value,
          createRevision: r.prev_create_rev ?? 0,
          modRevision: r.prev_mod_rev ?? 0,
          version: r.prev_version ?? 0,
          lease: r.prev_lease ?? 0,
        };
  if (r.deleted !== 0) return makeEvent('delete', tombstone(r.key, r.rev), prev);
  return makeEvent(
    'put',
    {
      key: r.key,
      value: r.value,
      createRevision: r.create_rev,
      modRevision: r.rev,
      version: r.version,
      lease: r.lease,
    },
    prev,
  );
}

/**
 * Keys of the highly available control plane: replica membership, shard ownership and the per-host
 * placement fence. Values are JSON.
 */

/** A scheduler shard (0 .. count-1) or the broker shard (host-wide duties, one owner). */
export type ShardId = number | 'broker';

export const BROKER = 'broker' as const;

export const haKeys = {
  /** `/servers/ID`: a live replica, on its own lease. */
  server: (id: string) => `/servers/${id}`,
  serversPrefix: '/servers/',
  /** `/shards/N` and `/shards/broker`: the shard's owner, on the owner's lease. */
  shard: (id: ShardId) => `/shards/${id}`,
  shardsPrefix: '/shards/',
  /**
   * `/placements/HOST`: rewritten by every plan that places a task on HOST, and compared by the next
   * one, so that replicas scheduling different shards never both fill the same free capacity.
   */
  placement: (host: string) => `/placements/${host}`,
  placementsPrefix: '/placements/',
} as const;

/** Value of `/servers/ID`. */
export interface ServerRecord {
  id: string;
  /** Where this replica serves the API. */
  url: string;
  /** When it registered (this incarnation), ms since the epoch. */
  since: number;
  lease: number;
}

/** Value of `/shards/N`. */
export interface ShardRecord {
  owner: string;
  lease: number;
  /** When the owner acquired it, ms since the epoch. */
  at: number;
}

/** The shard id a `/shards/...` key names, or undefined for anything else. */
export function shardIdOfKey(key: string): ShardId | undefined {
  if (!key.startsWith(haKeys.shardsPrefix)) return undefined;
  const rest = key.slice(haKeys.shardsPrefix.length);
  if (rest === 'broker') return BROKER;
  return /^(0|[1-9]\d{0,5})$/.test(rest) ? Number(rest) : undefined;
}

/** The replica id a `/servers/ID` key names, or undefined. */
export function serverIdOfKey(key: string): string | undefined {
  if (!key.startsWith(haKeys.serversPrefix)) return undefined;
  const rest = key.slice(haKeys.serversPrefix.length);
  return rest === '' || rest.includes('/') ? undefined : rest;
}

/** Replica ids: printable, no slash, at most 128 characters. */
export const REPLICA_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

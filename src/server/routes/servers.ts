import { messageOf } from '../../errors/index.ts';
import type { ServerReplicaView, ServersView } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import { BROKER, haKeys, shardIdOfKey, type ReplicaInfo, type ShardRecord } from '../shards/index.ts';
import type { Replica } from '../shards/index.ts';
import type { RegisteredServer } from '../shards/index.ts';

export interface ServersSource {
  view(): Promise<ServersView>;
}

/** `GET /v1/servers`: the control-plane replicas and their shards, read from the store. */
export function serverRoutes(router: Router, source: ServersSource): void {
  router.on('GET', '/v1/servers', () => source.view());
}

/**
 * The replicas and shard owners as stored. When the store does not answer, what this replica last
 * saw through its watches, with `store.ok` false.
 */
export async function serversView(store: Store, storeName: string, self: Replica): Promise<ServersView> {
  let infos: ReplicaInfo[];
  let storeState: ServersView['store'];
  try {
    const [servers, shards] = await Promise.all([
      store.range(haKeys.serversPrefix),
      store.range(haKeys.shardsPrefix),
    ]);
    infos = fromStore(
      servers.kvs.map((kv) => kv.value),
      shards.kvs.map((kv) => ({ key: kv.key, value: kv.value })),
    );
    storeState = { name: storeName, ok: true, revision: Math.max(servers.revision, shards.revision) };
  } catch (e) {
    infos = self.localView();
    storeState = { name: storeName, ok: false, revision: 0, error: messageOf(e) };
  }
  const owned = new Set(infos.flatMap((r) => r.shards));
  const unowned: number[] = [];
  for (let s = 0; s < self.shardCount; s++) if (!owned.has(s)) unowned.push(s);
  const replicas: ServerReplicaView[] = infos.map((r) => ({ ...r, self: r.id === self.id }));
  return {
    replicas,
    shards: self.shardCount,
    unowned,
    broker: infos.find((r) => r.broker)?.id ?? null,
    store: storeState,
  };
}

function fromStore(servers: string[], shards: { key: string; value: string }[]): ReplicaInfo[] {
  const byId = new Map<string, ReplicaInfo>();
  for (const v of servers) {
    try {
      const r = JSON.parse(v) as RegisteredServer;
      byId.set(r.id, { id: r.id, url: r.url, since: r.since, shards: [], broker: false });
    } catch {
      // An unreadable record is skipped.
    }
  }
  for (const { key, value } of shards) {
    const id = shardIdOfKey(key);
    if (id === undefined) continue;
    let owner: string;
    try {
      owner = (JSON.parse(value) as ShardRecord).owner;
    } catch {
      continue;
    }
    const r = byId.get(owner);
    if (r === undefined) continue; // its lease is going away
    if (id === BROKER) r.broker = true;
    else r.shards.push(id);
  }
  const list = [...byId.values()];
  for (const r of list) r.shards.sort((a, b) => a - b);
  return list.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

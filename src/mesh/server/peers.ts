/**
 * Host-gw routing's source: the live hosts holding a range of the task network and the address each
 * advertises (read from the host records and their liveness keys). Each agent routes the others'
 * ranges via their addresses.
 */
import { keys, type HostPeer, type HostPeersView, type HostRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';

/** The prefixes whose changes change the peers (a host registering, leaving, its record replaced). */
export const PEERS_PREFIXES = [keys.hostsPrefix, keys.alivePrefix] as const;

/** Every live host other than `self` with a range and an agent URL, in host id order. */
export async function hostPeersView(store: Store, self: string): Promise<HostPeersView> {
  const [hosts, alive] = await Promise.all([store.range(keys.hostsPrefix), store.range(keys.alivePrefix)]);
  const live = new Set(alive.kvs.map((kv) => kv.key.slice(keys.alivePrefix.length)));
  const peers: HostPeer[] = [];
  for (const kv of hosts.kvs) {
    const id = kv.key.slice(keys.hostsPrefix.length);
    if (id === self || !live.has(id)) continue;
    const record = JSON.parse(kv.value) as HostRecord;
    if (record.subnet === undefined || record.agentUrl === undefined) continue;
    const address = new URL(record.agentUrl).hostname.replace(/^\[|\]$/g, '');
    peers.push({ host: id, address, subnet: record.subnet });
  }
  peers.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : 0));
  return { revision: Math.min(hosts.revision, alive.revision), peers };
}

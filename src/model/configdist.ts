/**
 * Config distribution as LAD (docs/config.md, "Distribution"): the wire shapes of its two protocols.
 *
 * - Control (host <-> distributor, on the server): a host joins a shard's tree by holding its tree
 *   stream open (`position` events tell it its parent, fallbacks and children), proves it is alive
 *   with heartbeats (which carry its statistics and the upstreams it saw fail), and leaves by closing
 *   the stream.
 * - Data (host <-> its upstream: its parent host, or the server for the root): a metadata stream (a
 *   `snapshot` of every config of the shard, then each new version as `meta`), and content by digest,
 *   resumable with `Range`, verified by digest.
 */

/** Number of config shards: configs hash to them by namespace and first path segment. */
export const CONFIG_SHARDS = 16;

/** What flows down the tree for each config version. */
export interface ConfigMeta {
  namespace: string;
  path: string;
  version: number;
  /** `sha256:HEX` of the content. */
  digest: string;
  size: number;
  /**
   * The content itself (base64), on a new version small enough (META_INLINE_MAX_BYTES) to ride
   * down the tree with its metadata: each host has it at once, without a fetch from its parent.
   * Never in a snapshot (a host that joins fetches what it mounts).
   */
  content?: string;
  /**
   * Epoch ms at which each hop sent this version on: the distributor, then each host that passed
   * it to its children (only on a new version, never in a snapshot). For the benchmarks' per-hop
   * breakdown (`bench/config-stages.ts`); a few bytes per hop.
   */
  trace?: number[];
}

/** Contents up to this size travel inside their new version's metadata (ConfigMeta.content). */
export const META_INLINE_MAX_BYTES = 8 * 1024;

/** A host in a tree, as another host reaches it. */
export interface TreePeer {
  host: string;
  /** The base URL of its agent's endpoint. */
  url: string;
}

/** A host's place in a shard's tree (the distributor's tree command). */
export interface TreePosition {
  shard: number;
  /** Bumped on every change of this shard's tree. */
  epoch: number;
  /** 0 for the root (its upstream is the server). */
  depth: number;
  /** Its parent; null: the root, which fetches from the server. */
  parent: TreePeer | null;
  /** Where to go when the parent fails, nearest first (its ancestors); the server comes after them. */
  fallbacks: TreePeer[];
  children: TreePeer[];
  /** How often to send heartbeats (ms). */
  heartbeatMs: number;
}

/** Counters of the control protocol, as a host keeps them. */
export interface ControlStats {
  positions: number;
  parentChanges: number;
  heartbeats: number;
  heartbeatFailures: number;
  streamsOpened: number;
  suspectsReported: number;
}

/** Counters of the data protocol, as a host keeps them. */
export interface DataStats {
  metaReceived: number;
  metaForwarded: number;
  /** Bytes of content fetched, by where from. */
  bytesFromParent: number;
  bytesFromFallback: number;
  bytesFromServer: number;
  /** Bytes of content served to children. */
  bytesServed: number;
  contentsFetched: number;
  /** Contents that came inside their metadata (no fetch). */
  contentsInline: number;
  /** Fetches that went on from where they stopped (Range) at another upstream. */
  resumes: number;
  /** Upstream failures that sent a fetch or a metadata stream to the next upstream. */
  fallbacks: number;
  digestMismatches: number;
}

/** `POST .../heartbeat`: the host's statistics and the upstreams it saw fail since the last one. */
export interface TreeHeartbeat {
  suspects?: string[];
  control?: ControlStats;
  data?: DataStats;
}

/** A member of a shard's tree, as `dabba config status` shows it. */
export interface TreeMemberView {
  host: string;
  url: string;
  /** Its rack (its host record's `rack` label), when it has one: parents are taken in it first. */
  rack?: string;
  depth: number;
  /** Null for the root. */
  parent: string | null;
  children: number;
  /** Ms since its last heartbeat. */
  lastSeenMs: number;
  /** Its counters, as of its last heartbeat. */
  control?: ControlStats;
  data?: DataStats;
}

/** A shard's tree (held by the replica that owns the shard). */
export interface ConfigTreeView {
  shard: number;
  /** The replica holding it. */
  owner: string;
  fanout: number;
  depth: number;
  members: TreeMemberView[];
  /** Control-protocol counters of the distributor for this shard. */
  stats: { joins: number; leaves: number; deaths: number; repairs: number; positionsSent: number };
}

/** How a version reached the hosts that report it. */
export interface ConfigPropagation {
  version: number;
  /** Hosts reporting this version. */
  hosts: number;
  /** Hosts reporting any version. */
  of: number;
  /** From the version's store time to each host's report: median and slowest (ms). */
  p50Ms?: number;
  maxMs?: number;
}

/** FNV-1a, 32 bits, over the UTF-8 bytes of s. */
function fnv1a32(s: string): number {
  let h = 0x811c9dc5;
  for (const b of new TextEncoder().encode(s)) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The shard a config belongs to: by its namespace and its path's first segment (its prefix). */
export function configShardOf(namespace: string, path: string): number {
  const first = path.split('/')[0] ?? path;
  return fnv1a32(`${namespace}/${first}`) % CONFIG_SHARDS;
}

export const emptyControlStats = (): ControlStats => ({
  positions: 0,
  parentChanges: 0,
  heartbeats: 0,
  heartbeatFailures: 0,
  streamsOpened: 0,
  suspectsReported: 0,
});

export const emptyDataStats = (): DataStats => ({
  metaReceived: 0,
  metaForwarded: 0,
  bytesFromParent: 0,
  bytesFromFallback: 0,
  bytesFromServer: 0,
  bytesServed: 0,
  contentsFetched: 0,
  contentsInline: 0,
  resumes: 0,
  fallbacks: 0,
  digestMismatches: 0,
});

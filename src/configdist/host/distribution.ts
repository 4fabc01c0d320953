/**
 * The host's proxy for config distribution (docs/config.md, "Distribution"): one tree membership per
 * config shard its tasks need (shard-member.ts), the contents it has or is fetching
 * (content-cache.ts), and what it serves to its children on the agent's endpoint
 * (peer-endpoint.ts). It keeps the statistics of both protocols, which its heartbeats carry to the
 * distributor (and so to the server's `GET /metrics`).
 */
import { join } from 'node:path';
import type { DabbaClient } from '../../client/index.ts';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import {
  configShardOf,
  emptyControlStats,
  emptyDataStats,
  type ConfigMeta,
  type ControlStats,
  type DataStats,
} from '../../model/index.ts';
import { ContentCache } from './content-cache.ts';
import { ShardMember } from './shard-member.ts';

export interface DistributionOptions {
  client: DabbaClient;
  hostId: string;
  /** Contents go under DIR/configdist/. */
  dataDir: string;
  logger: Logger;
  /** A fetch with no byte for this long moves to the next upstream (ms, default 10,000). */
  idleMs?: number;
}

interface Joined {
  member: ShardMember;
  refs: number;
  abort: AbortController;
  run: Promise<void>;
}

export class Distribution {
  readonly control: ControlStats = emptyControlStats();
  readonly data: DataStats = emptyDataStats();
  readonly cache: ContentCache;
  readonly #o: DistributionOptions;
  readonly #shards = new Map<number, Joined>();
  readonly #peers = new Map<string, DabbaClient>();
  readonly #listeners = new Set<(m: ConfigMeta) => void>();
  #selfUrl = '';

  constructor(o: DistributionOptions) {
    this.#o = o;
    this.cache = new ContentCache({
      dir: join(o.dataDir, 'configdist'),
      logger: o.logger,
      stats: this.data,
      upstreams: (m) =>
        this.member(configShardOf(m.namespace, m.path))?.upstreams() ?? [
          { kind: 'server', client: o.client },
        ],
      suspect: (host) => {
        for (const j of this.#shards.values()) j.member.suspect(host);
      },
      ...(o.idleMs === undefined ? {} : { idleMs: o.idleMs }),
    });
  }

  /** This host's endpoint, as its children reach it (known once the endpoint listens). */
  setSelfUrl(url: string): void {
    this.#selfUrl = url;
  }

  /** Calls `fn` with every new version of a config of any shard this host is in. */
  onMeta(fn: (m: ConfigMeta) => void): void {
    this.#listeners.add(fn);
  }

  member(shard: number): ShardMember | undefined {
    return this.#shards.get(shard)?.member;
  }

  /** Joins the config's shard's tree (once per shard; counted). */
  acquire(namespace: string, path: string): ShardMember {
    const shard = configShardOf(namespace, path);
    const j = this.#shards.get(shard);
    if (j !== undefined) {
      j.refs++;
      return j.member;
    }
    const member = new ShardMember({
      shard,
      hostId: this.#o.hostId,
      selfUrl: this.#selfUrl,
      client: this.#o.client,
      peer: (url) => this.#peer(url),
      logger: this.#o.logger,
      control: this.control,
      data: this.data,
      onMeta: (m) => {
        for (const fn of this.#listeners) fn(m);
      },
    });
    const abort = new AbortController();
    const run = member.run(abort.signal).catch((e: unknown) => {
      this.#o.logger.error({ shard, err: messageOf(e) }, 'config tree membership stopped');
    });
    this.#shards.set(shard, { member, refs: 1, abort, run });
    return member;
  }

  /** Drops one reference on the config's shard; the last leaves the tree. */
  release(namespace: string, path: string): void {
    const shard = configShardOf(namespace, path);
    const j = this.#shards.get(shard);
    if (j === undefined || --j.refs > 0) return;
    this.#shards.delete(shard);
    j.abort.abort();
  }

  /** Leaves every tree. */
  async close(): Promise<void> {
    const all = [...this.#shards.values()];
    this.#shards.clear();
    for (const j of all) j.abort.abort();
    await Promise.allSettled(all.map((j) => j.run));
  }

  #peer(url: string): DabbaClient {
    let c = this.#peers.get(url);
    if (c === undefined) {
      if (this.#peers.size > 64) this.#peers.clear();
      this.#peers.set(url, (c = this.#o.client.at(url)));
    }
    return c;
  }
}

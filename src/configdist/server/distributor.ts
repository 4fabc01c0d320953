/**
 * The distributor (docs/config.md, "Distribution"): per config shard it owns, a tree of the
 * subscribed hosts with a bounded fan-out (shard-tree.ts). It speaks the control protocol: a host
 * joins by holding its tree stream open and is sent its position (parent, fallbacks, children)
 * whenever it changes; heartbeats prove it alive; a host whose stream closes has left, one silent for
 * `deadAfterMs` is dead, and one that children report as failed while it has missed a heartbeat is
 * dead too — each time the tree is repaired and the members concerned are told.
 *
 * It is also the top of the data protocol: it follows the store's latest config records and hands
 * each shard's metadata to the shard's root (`snapshot`, then each new version).
 */
import { messageOf, UnavailableError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import {
  META_INLINE_MAX_BYTES,
  configShardOf,
  keys,
  type ConfigMeta,
  type ConfigTreeView,
  type ConfigVersion,
  type ControlStats,
  type DataStats,
  type HostRecord,
  type TreeHeartbeat,
  type TreePosition,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { ShardTree, type TreeMember } from './shard-tree.ts';

export interface DistributorOptions {
  store: Store;
  logger: Logger;
  /** This replica's id (shown as the tree's owner). */
  ownerId: string;
  /** Whether this replica owns config shard `shard` now (default: every shard). */
  owns?: (shard: number) => boolean;
  /** Children per member at most (default 3). */
  fanout?: number;
  /** How often members send heartbeats (ms, default 2,000). */
  heartbeatMs?: number;
  /** A member silent this long is dead (ms, default 3 heartbeats). */
  deadAfterMs?: number;
  /**
   * Heartbeats per second this distributor takes at most, over all its members (default 1,000):
   * past heartbeatsPerSecond × heartbeatMs / 1000 members, each is told a longer interval (and is
   * dead after as many of its own intervals as deadAfterMs is of heartbeatMs).
   */
  heartbeatsPerSecond?: number;
  monotonic?: () => number;
}

export interface DistMember extends TreeMember {
  /** The heartbeat interval this member was last told (ms). */
  beatMs: number;
  /** Sends the member its position (its tree stream). */
  send(p: TreePosition): void;
  /** Ends its tree stream (it is out of the tree). */
  close(reason: string): void;
  control?: ControlStats;
  data?: DataStats;
}

interface ShardStats {
  joins: number;
  leaves: number;
  deaths: number;
  repairs: number;
  positionsSent: number;
  heartbeats: number;
  metaSent: number;
}

const emptyShardStats = (): ShardStats => ({
  joins: 0,
  leaves: 0,
  deaths: 0,
  repairs: 0,
  positionsSent: 0,
  heartbeats: 0,
  metaSent: 0,
});

function addInto(sum: Record<string, number>, counters: object | undefined): void {
  for (const [k, v] of Object.entries(counters ?? {}) as [string, unknown][])
    if (typeof v === 'number') sum[k] = (sum[k] ?? 0) + v;
}

export const DEFAULT_FANOUT = 3;
/** The host label that names a host's rack (as the testbed and placement's `spread` use it). */
export const RACK_LABEL = 'rack';
export const DEFAULT_HEARTBEAT_MS = 2000;
export const DEFAULT_HEARTBEATS_PER_SECOND = 1000;
/** More silent members than this share of a tree (and MASS_SILENCE_MIN) at one sweep: none is dead. */
const MASS_SILENCE_SHARE = 0.2;
const MASS_SILENCE_MIN = 10;

export class Distributor {
  readonly fanout: number;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly heartbeatsPerSecond: number;
  readonly #o: DistributorOptions;
  readonly #now: () => number;
  readonly #trees = new Map<number, ShardTree<DistMember>>();
  readonly #stats = new Map<number, ShardStats>();
  /** The latest metadata of every config, by shard then `ns\0path`. */
  readonly #metas = new Map<number, Map<string, ConfigMeta>>();
  readonly #listeners = new Map<number, Set<(m: ConfigMeta) => void>>();
  #loaded: Promise<void>;
  #markLoaded: () => void = () => undefined;

  constructor(o: DistributorOptions) {
    this.#o = o;
    this.fanout = o.fanout ?? DEFAULT_FANOUT;
    this.heartbeatMs = o.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.deadAfterMs = o.deadAfterMs ?? 3 * this.heartbeatMs;
    this.heartbeatsPerSecond = o.heartbeatsPerSecond ?? DEFAULT_HEARTBEATS_PER_SECOND;
    this.#now = o.monotonic ?? (() => performance.now());
    this.#loaded = new Promise((resolve) => (this.#markLoaded = resolve));
  }

  owns(shard: number): boolean {
    return this.#o.owns?.(shard) ?? true;
  }

  /**
   * A host joins (or rejoins) a shard's tree; it is sent its position at once. `rack`: its rack
   * (rackOf), whose earlier members are its parents when there are any.
   */
  join(
    shard: number,
    host: string,
    url: string,
    send: DistMember['send'],
    close: DistMember['close'],
    rack?: string,
  ): DistMember {
    if (!this.owns(shard))
      throw new UnavailableError(`config shard ${shard} is not held by this replica`, {
        details: { shard, replica: this.#o.ownerId },
      });
    const tree = this.#tree(shard);
    const old = tree.get(host);
    const beatMs = this.beatMs();
    const m: DistMember = {
      host,
      url,
      index: 0,
      lastSeen: this.#now(),
      beatMs,
      send,
      close,
      ...(rack === undefined ? {} : { rack }),
    };
    const changed = tree.join(m);
    this.#stat(shard).joins++;
    if (old !== undefined) old.close('replaced by a new stream of the same host');
    this.#tell(tree, changed);
    return m;
  }

  /** The host's rack: the `rack` label of its host record (undefined: none, or no such host). */
  async rackOf(host: string): Promise<string | undefined> {
    const kv = await this.#o.store.get(keys.host(host)).catch(() => undefined);
    if (kv === undefined) return undefined;
    try {
      const rack = (JSON.parse(kv.value) as Partial<HostRecord>).labels?.[RACK_LABEL];
      return typeof rack === 'string' && rack !== '' ? rack : undefined;
    } catch {
      return undefined;
    }
  }

  /** The member's stream closed: it leaves the tree (a member replaced by a rejoin does not). */
  leave(shard: number, m: DistMember): void {
    const tree = this.#trees.get(shard);
    if (tree === undefined || tree.get(m.host) !== m) return;
    this.#stat(shard).leaves++;
    this.#remove(tree, m, 'left');
  }

  /** The heartbeat interval members are told now: heartbeatMs, longer past the rate budget. */
  beatMs(): number {
    let members = 0;
    for (const t of this.#trees.values()) members += t.size;
    const spread = Math.ceil((members * 1000) / this.heartbeatsPerSecond / 1000) * 1000;
    return Math.max(this.heartbeatMs, spread);
  }

  /**
   * A heartbeat: `member` false when the host is not in the tree (it should open its stream again);
   * `heartbeatMs`, the interval to beat at from now on.
   */
  heartbeat(shard: number, host: string, hb: TreeHeartbeat): { member: boolean; heartbeatMs: number } {
    const tree = this.#trees.get(shard);
    const m = tree?.get(host);
    const beatMs = this.beatMs();
    if (tree === undefined || m === undefined) return { member: false, heartbeatMs: beatMs };
    const now = this.#now();
    m.lastSeen = now;
    m.beatMs = Math.max(m.beatMs, beatMs);
    if (hb.control) m.control = hb.control;
    if (hb.data) m.data = hb.data;
    this.#stat(shard).heartbeats++;
    for (const s of hb.suspects ?? []) {
      const x = tree.get(s);
      // A reported upstream that has also missed a heartbeat is dead; one still beating is not.
      if (x !== undefined && x !== m && x.lastSeen < now - 1.5 * x.beatMs) {
        this.#stat(shard).deaths++;
        this.#remove(tree, x, `reported failed by ${host}`);
      }
    }
    return { member: true, heartbeatMs: beatMs };
  }

  /** The shard's tree, or undefined when this replica does not own the shard. */
  tree(shard: number): ConfigTreeView | undefined {
    if (!this.owns(shard)) return undefined;
    const tree = this.#trees.get(shard);
    const now = this.#now();
    const s = this.#stat(shard);
    return {
      shard,
      owner: this.#o.ownerId,
      fanout: this.fanout,
      depth: tree?.depth() ?? -1,
      members: (tree?.order ?? []).map((m) => ({
        host: m.host,
        url: m.url,
        ...(m.rack === undefined ? {} : { rack: m.rack }),
        depth: tree?.depthOf(m) ?? 0,
        parent: tree?.parentOf(m)?.host ?? null,
        children: tree?.childrenOf(m).length ?? 0,
        lastSeenMs: Math.round(now - m.lastSeen),
        ...(m.control ? { control: m.control } : {}),
        ...(m.data ? { data: m.data } : {}),
      })),
      stats: {
        joins: s.joins,
        leaves: s.leaves,
        deaths: s.deaths,
        repairs: s.repairs,
        positionsSent: s.positionsSent,
      },
    };
  }

  /** The shard's metadata (every config's latest version), once the store has been read. */
  async snapshot(shard: number): Promise<ConfigMeta[]> {
    await this.#loaded;
    return [...(this.#metas.get(shard)?.values() ?? [])];
  }

  /** Calls `fn` with each new version of a config of the shard; returns the unsubscribe. */
  onMeta(shard: number, fn: (m: ConfigMeta) => void): () => void {
    let set = this.#listeners.get(shard);
    if (set === undefined) this.#listeners.set(shard, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  /** Follows the store's config records and checks liveness, until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    await Promise.all([this.#follow(signal), this.#sweep(signal)]);
  }

  /** Counters for the telemetry endpoint: per shard, the distributor's and its members' (summed). */
  samples(): {
    shard: number;
    members: number;
    depth: number;
    stats: ShardStats;
    control: Partial<ControlStats>;
    data: Partial<DataStats>;
  }[] {
    const out = [];
    for (const [shard, tree] of this.#trees) {
      const control: Record<string, number> = {};
      const data: Record<string, number> = {};
      for (const m of tree.order) {
        addInto(control, m.control);
        addInto(data, m.data);
      }
      out.push({ shard, members: tree.size, depth: tree.depth(), stats: this.#stat(shard), control, data });
    }
    return out;
  }

  #tree(shard: number): ShardTree<DistMember> {
    let t = this.#trees.get(shard);
    if (t === undefined) this.#trees.set(shard, (t = new ShardTree<DistMember>(shard, this.fanout)));
    return t;
  }

  #stat(shard: number): ShardStats {
    let s = this.#stats.get(shard);
    if (s === undefined) this.#stats.set(shard, (s = emptyShardStats()));
    return s;
  }

  #remove(tree: ShardTree<DistMember>, m: DistMember, why: string): void {
    const changed = tree.leave(m);
    if (changed.length > 0) this.#stat(tree.shard).repairs++;
    m.close(why);
    this.#o.logger.info(
      { shard: tree.shard, host: m.host, why, members: tree.size },
      'config tree member out',
    );
    this.#tell(tree, changed);
  }

  #tell(tree: ShardTree<DistMember>, members: DistMember[]): void {
    const beatMs = this.beatMs();
    for (const m of members) {
      this.#stat(tree.shard).positionsSent++;
      m.beatMs = Math.max(m.beatMs, beatMs);
      m.send(tree.position(m, beatMs));
    }
  }

  #setMeta(v: ConfigVersion): ConfigMeta | undefined {
    const shard = configShardOf(v.namespace, v.path);
    let map = this.#metas.get(shard);
    if (map === undefined) this.#metas.set(shard, (map = new Map<string, ConfigMeta>()));
    const key = `${v.namespace}\0${v.path}`;
    if ((map.get(key)?.version ?? 0) >= v.version) return undefined;
    const meta: ConfigMeta = {
      namespace: v.namespace,
      path: v.path,
      version: v.version,
      digest: v.digest,
      size: v.size,
    };
    map.set(key, meta);
    return meta;
  }

  async #follow(signal: AbortSignal): Promise<void> {
    const { store, logger } = this.#o;
    const prefix = '/configs/';
    let from: number | undefined;
    while (!signal.aborted) {
      try {
        if (from === undefined) {
          const { kvs, revision } = await store.range(prefix);
          for (const kv of kvs) this.#publish(JSON.parse(kv.value) as ConfigVersion, false);
          from = revision + 1;
          this.#markLoaded();
        }
        for await (const batch of store.watch(prefix, { signal, fromRevision: from })) {
          for (const e of batch) {
            from = e.kv.modRevision + 1;
            if (e.type === 'put') await this.#publishLive(JSON.parse(e.kv.value) as ConfigVersion);
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        logger.warn({ err: messageOf(e) }, 'config metadata watch ended; reading again');
        from = undefined;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }

  /** A new version from the watch: a small content is read to go with its metadata. */
  async #publishLive(v: ConfigVersion): Promise<void> {
    let content: string | undefined;
    if (v.size <= META_INLINE_MAX_BYTES && this.#listeners.has(configShardOf(v.namespace, v.path))) {
      // Stored in the version's own transaction (config-store.ts); a miss just means no inline copy.
      content = (await this.#o.store.get(keys.configBlob(v.digest)).catch(() => undefined))?.value;
    }
    this.#publish(v, true, content);
  }

  #publish(v: ConfigVersion, live: boolean, content?: string): void {
    const stored = this.#setMeta(v);
    if (stored === undefined) return;
    // The content goes to the streams only: the kept metadata (snapshots) stays small.
    const trace = live ? { trace: [Date.now()] } : {};
    const meta = content === undefined ? { ...stored, ...trace } : { ...stored, content, ...trace };
    const shard = configShardOf(v.namespace, v.path);
    const listeners = this.#listeners.get(shard) ?? new Set();
    for (const fn of listeners) {
      this.#stat(shard).metaSent++;
      fn(meta);
    }
    // Epoch ms, for the benchmarks' per-stage breakdown (bench/config-stages.ts).
    if (live)
      this.#o.logger.info(
        { config: v.path, version: v.version, storedAt: v.at, sentAt: Date.now(), streams: listeners.size },
        'config version published',
      );
  }

  async #sweep(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, this.heartbeatMs);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
      if (signal.aborted) break;
      const now = this.#now();
      const deadAfter = this.deadAfterMs / this.heartbeatMs;
      for (const [shard, tree] of this.#trees) {
        if (!this.owns(shard)) {
          // The shard moved to another replica: its members go there (their clients fail over).
          for (const m of [...tree.order]) m.close('config shard moved to another replica');
          this.#trees.delete(shard);
          continue;
        }
        const silent = tree.order.filter((x) => x.lastSeen < now - deadAfter * x.beatMs);
        if (silent.length > Math.max(MASS_SILENCE_MIN, MASS_SILENCE_SHARE * tree.size)) {
          // Many silent at once: the distributor is behind on its heartbeats (a starved or paused
          // process), not that many hosts dead; removing them all would have them all join again
          // at once. Dead agents' streams close by themselves, and children report dead parents.
          this.#o.logger.warn(
            { shard, silent: silent.length, members: tree.size },
            'many config tree members silent at once: none taken for dead',
          );
          continue;
        }
        for (const m of silent) {
          this.#stat(shard).deaths++;
          this.#remove(tree, m, 'no heartbeat');
        }
      }
    }
    for (const tree of this.#trees.values()) for (const m of tree.order) m.close('server closing');
  }
}

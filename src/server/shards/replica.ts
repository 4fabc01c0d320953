/**
 * One control-plane replica's share of the work. Jobs hash to a fixed number of scheduler shards
 * (`/shards/N`) plus the broker shard (`/shards/broker`: host-wide duties); each shard key names its
 * owner and is put on the owner's lease, so a dead owner's shards free themselves when its lease
 * expires. Every replica watches `/servers/` and `/shards/`, computes its fair share from the sorted
 * live replica ids, acquires free shards up to it (create-only transactions: one winner) and releases
 * shards beyond it when another replica wants some. A write on behalf of a shard carries the shard's
 * fence (its key's create revision and value as acquired), so a replica that lost a shard can never
 * write for it, even before it notices.
 */
import { messageOf } from '../../errors/index.ts';
import type { Clock, Logger } from '../../lib/index.ts';
import type { Compare, KeyValue, LeaseId, Store, WatchEvent } from '../../store/index.ts';
import { acquireOrder, chooseRelease, quotas } from './fair-share.ts';
import { shardOf } from './hash.ts';
import { BROKER, haKeys, serverIdOfKey, shardIdOfKey, type ShardId, type ShardRecord } from './keys.ts';
import { Membership, type RegisteredServer } from './membership.ts';
import { watchPrefix } from './prefix-view.ts';

export interface ReplicaOptions {
  store: Store;
  logger: Logger;
  clock: Clock;
  id: string;
  /** Where this replica serves the API (stored in /servers/ID). */
  url: string;
  shardCount: number;
  leaseTtlSeconds: number;
  /** A shard free for this long is taken by any replica, beyond its fair share. Default: the lease TTL. */
  overflowAfterMs?: number;
  /** Monotonic milliseconds (default performance.now). */
  monotonic?: () => number;
}

/** What a write on behalf of a shard must carry. */
export interface ShardFence {
  shard: ShardId;
  /** Revision at which this replica acquired the shard: decide only from state at least this new. */
  since: number;
  compares: Compare[];
  /** The owner's lease the shard is held with. */
  lease: LeaseId;
}

export interface OwnershipChange {
  acquired: ShardId[];
  lost: ShardId[];
  /** Store revision of the acquisition (0 for losses). */
  revision: number;
  reason: string;
  /** Monotonic time of the change. */
  at: number;
}

export interface ReplicaInfo {
  id: string;
  url: string;
  since: number;
  shards: number[];
  broker: boolean;
}

interface Held {
  id: ShardId;
  value: string;
  createRevision: number;
  lease: LeaseId;
}

interface SeenShard {
  owner: string | undefined;
  createRevision: number;
}

export class Replica {
  readonly id: string;
  readonly url: string;
  readonly shardCount: number;
  readonly membership: Membership;
  readonly #o: ReplicaOptions;
  readonly #now: () => number;
  readonly #owned = new Map<ShardId, Held>();
  readonly #servers = new Map<string, { record: RegisteredServer; firstSeen: number }>();
  readonly #shards = new Map<ShardId, SeenShard>();
  readonly #freeSince = new Map<number, number>();
  #serversReady = false;
  #shardsReady = false;
  readonly #listeners: ((c: OwnershipChange) => void)[] = [];
  #wake: (() => void) | undefined;
  #kicked = false;

  constructor(options: ReplicaOptions) {
    this.#o = options;
    this.id = options.id;
    this.url = options.url;
    this.shardCount = options.shardCount;
    this.#now = options.monotonic ?? (() => performance.now());
    this.membership = new Membership({
      store: options.store,
      logger: options.logger,
      clock: options.clock,
      id: options.id,
      url: options.url,
      shardCount: options.shardCount,
      ttlSeconds: options.leaseTtlSeconds,
      monotonic: this.#now,
    });
    this.membership.onLost((reason) => this.#drop([...this.#owned.keys()], `lease lost: ${reason}`));
    this.membership.onRegistered(() => this.#kick());
  }

  /** Registers this replica (errors surface to the caller: duplicate id, shard count mismatch, store down). */
  async start(): Promise<void> {
    await this.membership.register();
  }

  /** Keeps the lease, the views and the shard ownership until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { store, logger } = this.#o;
    const wakeOnAbort = (): void => this.#wake?.();
    signal.addEventListener('abort', wakeOnAbort, { once: true });
    await Promise.all([
      this.membership.run(signal),
      watchPrefix(
        store,
        haKeys.serversPrefix,
        { onReset: (kvs) => this.#resetServers(kvs), onEvents: (es) => this.#serverEvents(es) },
        logger,
        signal,
      ),
      watchPrefix(
        store,
        haKeys.shardsPrefix,
        { onReset: (kvs, rev) => this.#resetShards(kvs, rev), onEvents: (es) => this.#shardEvents(es) },
        logger,
        signal,
      ),
      this.#rebalanceLoop(signal),
    ]);
  }

  /** Leaves the group: stops acting on every shard and revokes the lease (its keys go with it). */
  async leave(): Promise<void> {
    await this.membership.leave();
  }

  onChange(fn: (c: OwnershipChange) => void): void {
    this.#listeners.push(fn);
  }

  shardOf(job: string): number {
    return shardOf(job, this.shardCount);
  }

  /** The fence for writes about this job, or undefined when this replica must not act on it now. */
  fenceFor(job: string): ShardFence | undefined {
    return this.fenceForShard(this.shardOf(job));
  }

  /**
   * A fence covering every scheduler shard, while this replica owns them all (a lone replica):
   * no other replica can write a plan while it holds, so plans need no per-host placement keys.
   */
  fenceForAll(): { shard: 'all'; since: number; compares: Compare[]; lease: LeaseId } | undefined {
    const compares: Compare[] = [];
    let since = 0;
    const lease = this.membership.lease?.id;
    if (lease === undefined) return undefined;
    for (let id = 0; id < this.shardCount; id++) {
      const f = this.fenceForShard(id);
      if (f === undefined) return undefined;
      compares.push(...f.compares);
      since = Math.max(since, f.since);
    }
    return { shard: 'all', since, compares, lease };
  }

  fenceForShard(id: ShardId): ShardFence | undefined {
    const held = this.#owned.get(id);
    const lease = this.membership.lease;
    if (held === undefined || lease === undefined || held.lease !== lease.id || !this.membership.valid())
      return undefined;
    const key = haKeys.shard(id);
    return {
      shard: id,
      lease: held.lease,
      since: held.createRevision,
      compares: [
        { key, target: 'create', op: '=', createRevision: held.createRevision },
        { key, target: 'value', op: '=', value: held.value },
      ],
    };
  }

  /** Scheduler shards this replica owns now (and may act on). */
  ownedShards(): number[] {
    if (!this.membership.valid()) return [];
    return [...this.#owned.keys()].filter((s): s is number => typeof s === 'number').sort((a, b) => a - b);
  }

  /** The broker shard's fence while this replica owns it (pools and loans are decided under it). */
  fenceForBroker(): ShardFence | undefined {
    return this.fenceForShard(BROKER);
  }

  ownsBroker(): boolean {
    return this.fenceForShard(BROKER) !== undefined;
  }

  /** The replicas and shard owners as this replica sees them (from its watches). */
  localView(): ReplicaInfo[] {
    const byOwner = new Map<string, { shards: number[]; broker: boolean }>();
    for (const [id, s] of this.#shards) {
      if (s.owner === undefined) continue;
      const e = byOwner.get(s.owner) ?? { shards: [], broker: false };
      if (id === BROKER) e.broker = true;
      else e.shards.push(id);
      byOwner.set(s.owner, e);
    }
    return [...this.#servers.values()]
      .map(({ record }) => ({
        id: record.id,
        url: record.url,
        since: record.since,
        shards: (byOwner.get(record.id)?.shards ?? []).sort((a, b) => a - b),
        broker: byOwner.get(record.id)?.broker ?? false,
      }))
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // ---- views ----

  #resetServers(kvs: KeyValue[]): void {
    const before = new Map(this.#servers);
    this.#servers.clear();
    for (const kv of kvs) this.#putServer(kv, before.get(serverIdOfKey(kv.key) ?? '')?.firstSeen);
    this.#serversReady = true;
    this.#kick();
  }

  #serverEvents(events: WatchEvent[]): void {
    for (const e of events) {
      const id = serverIdOfKey(e.kv.key);
      if (id === undefined) continue;
      if (e.type === 'delete') this.#servers.delete(id);
      else this.#putServer(e.kv, this.#servers.get(id)?.firstSeen);
    }
    this.#kick();
  }

  #putServer(kv: KeyValue, firstSeen: number | undefined): void {
    const id = serverIdOfKey(kv.key);
    if (id === undefined) return;
    try {
      const record = JSON.parse(kv.value) as RegisteredServer;
      this.#servers.set(id, { record: { ...record, id }, firstSeen: firstSeen ?? this.#now() });
    } catch {
      this.#o.logger.warn({ key: kv.key }, 'unreadable replica record ignored');
    }
  }

  #resetShards(kvs: KeyValue[], revision: number): void {
    this.#shards.clear();
    for (const kv of kvs) {
      const id = shardIdOfKey(kv.key);
      if (id !== undefined) this.#shards.set(id, seen(kv));
    }
    const now = this.#now();
    for (let s = 0; s < this.shardCount; s++) {
      if (this.#shards.has(s)) this.#freeSince.delete(s);
      else if (!this.#freeSince.has(s)) this.#freeSince.set(s, now);
    }
    const gone: ShardId[] = [];
    for (const [id, held] of this.#owned) {
      const s = this.#shards.get(id);
      if (revision >= held.createRevision && s?.createRevision !== held.createRevision) gone.push(id);
    }
    this.#drop(gone, 'shard key gone (expired, revoked or taken)');
    this.#shardsReady = true;
    this.#kick();
  }

  #shardEvents(events: WatchEvent[]): void {
    const gone: ShardId[] = [];
    for (const e of events) {
      const id = shardIdOfKey(e.kv.key);
      if (id === undefined) continue;
      const held = this.#owned.get(id);
      if (e.type === 'delete') {
        const s = this.#shards.get(id);
        // A late event about an older incarnation of the key says nothing about the one we hold.
        if (s === undefined || s.createRevision <= e.kv.modRevision) {
          this.#shards.delete(id);
          if (typeof id === 'number') this.#freeSince.set(id, this.#now());
        }
        if (held !== undefined && e.kv.modRevision > held.createRevision) gone.push(id);
      } else {
        const s = this.#shards.get(id);
        if (s === undefined || s.createRevision <= e.kv.createRevision) this.#shards.set(id, seen(e.kv));
        if (typeof id === 'number') this.#freeSince.delete(id);
        if (held !== undefined && e.kv.createRevision > held.createRevision) gone.push(id);
      }
    }
    this.#drop(gone, 'shard key gone (expired, revoked or taken)');
    this.#kick();
  }

  // ---- ownership ----

  #drop(ids: ShardId[], reason: string): void {
    const lost = ids.filter((id) => this.#owned.delete(id));
    if (lost.length === 0) return;
    this.#o.logger.info({ replica: this.id, shards: lost, reason }, 'shards released');
    this.#emit({ acquired: [], lost, revision: 0, reason, at: this.#now() });
  }

  #emit(change: OwnershipChange): void {
    for (const fn of this.#listeners) {
      try {
        fn(change);
      } catch (e) {
        this.#o.logger.error({ err: e }, 'ownership listener failed');
      }
    }
  }

  #kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  async #rebalanceLoop(signal: AbortSignal): Promise<void> {
    const periodMs = Math.max(100, Math.min(1000, (this.#o.leaseTtlSeconds * 1000) / 3));
    while (!signal.aborted) {
      if (!this.#kicked) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, periodMs);
          const wake = (): void => done();
          this.#wake = wake;
          function done(): void {
            clearTimeout(t);
            resolve();
          }
        });
        this.#wake = undefined;
      }
      this.#kicked = false;
      if (signal.aborted) break;
      try {
        await this.#rebalance();
      } catch (e) {
        if (!signal.aborted)
          this.#o.logger.warn({ err: messageOf(e), replica: this.id }, 'rebalance failed; will retry');
      }
    }
  }

  async #rebalance(): Promise<void> {
    if (!this.membership.valid() || !this.#serversReady || !this.#shardsReady) return;
    const now = this.#now();
    const live = [...this.#servers.keys()];
    if (!live.includes(this.id)) live.push(this.id);
    live.sort();
    const quota = quotas(live, this.shardCount);
    const mine = quota.get(this.id) ?? 0;
    const owned = (): number[] => [...this.#owned.keys()].filter((s): s is number => typeof s === 'number');

    // Keys in our name that we do not act on (a release or a lease revocation that failed): delete
    // them, else nobody could take those shards until our lease expires.
    for (const [id, s] of [...this.#shards]) {
      if (s.owner === this.id && !this.#owned.has(id)) await this.#deleteKey(id, s.createRevision);
    }

    // Beyond the fair share: give shards back, but only to a replica that wants them and can take
    // them (it owns some already, or joined recently), so that a stuck replica does not make the
    // others drop shards nobody picks up.
    if (owned().length > mine) {
      const counts = new Map<string, number>();
      for (const [id, s] of this.#shards)
        if (typeof id === 'number' && s.owner !== undefined)
          counts.set(s.owner, (counts.get(s.owner) ?? 0) + 1);
      const overflowMs = this.#overflowMs();
      const hungry = live.some((r) => {
        if (r === this.id) return false;
        const have = counts.get(r) ?? 0;
        const seenFor = now - (this.#servers.get(r)?.firstSeen ?? now);
        return have < (quota.get(r) ?? 0) && (have > 0 || seenFor < 3 * overflowMs);
      });
      if (hungry) {
        for (const s of chooseRelease(owned(), mine, this.id, live)) await this.#release(s);
      }
    }

    const free: number[] = [];
    for (let s = 0; s < this.shardCount; s++) if (!this.#shards.has(s)) free.push(s);
    for (const s of acquireOrder(free, this.id, live)) {
      if (!this.membership.valid()) return;
      const freeFor = now - (this.#freeSince.get(s) ?? now);
      if (owned().length < mine || freeFor >= this.#overflowMs()) await this.#acquire(s);
    }
    if (!this.#shards.has(BROKER)) await this.#acquire(BROKER);
  }

  #overflowMs(): number {
    return this.#o.overflowAfterMs ?? this.#o.leaseTtlSeconds * 1000;
  }

  async #acquire(id: ShardId): Promise<boolean> {
    const lease = this.membership.lease;
    if (lease === undefined || !this.membership.valid()) return false;
    const key = haKeys.shard(id);
    const record: ShardRecord = { owner: this.id, lease: lease.id, at: this.#o.clock.now() };
    const value = JSON.stringify(record);
    const r = await this.#o.store.txn({
      compare: [{ key, target: 'create', op: '=', createRevision: 0 }],
      success: [{ type: 'put', key, value, lease: lease.id }],
    });
    if (!r.succeeded) return false;
    // Lost the lease meanwhile: the key dies with it; never count it as ours.
    if (this.membership.lease !== lease) return false;
    this.#owned.set(id, { id, value, createRevision: r.revision, lease: lease.id });
    const s = this.#shards.get(id);
    if (s === undefined || s.createRevision < r.revision)
      this.#shards.set(id, { owner: this.id, createRevision: r.revision });
    if (typeof id === 'number') this.#freeSince.delete(id);
    this.#o.logger.info({ replica: this.id, shard: id, revision: r.revision }, 'shard acquired');
    this.#emit({ acquired: [id], lost: [], revision: r.revision, reason: 'acquired', at: this.#now() });
    return true;
  }

  async #release(id: number): Promise<void> {
    const held = this.#owned.get(id);
    if (held === undefined) return;
    // Stop acting first; the fence refuses anything still in flight once the key is gone.
    this.#drop([id], 'rebalance: beyond the fair share');
    await this.#deleteKey(id, held.createRevision);
  }

  /** Deletes the shard key if it is still the incarnation created at createRevision. */
  async #deleteKey(id: ShardId, createRevision: number): Promise<void> {
    const key = haKeys.shard(id);
    const r = await this.#o.store.txn({
      compare: [{ key, target: 'create', op: '=', createRevision }],
      success: [{ type: 'delete', key }],
    });
    if (r.succeeded && this.#shards.get(id)?.createRevision === createRevision) {
      this.#shards.delete(id);
      if (typeof id === 'number') this.#freeSince.set(id, this.#now());
    }
  }
}

function seen(kv: KeyValue): SeenShard {
  let owner: string | undefined;
  try {
    owner = (JSON.parse(kv.value) as ShardRecord).owner;
  } catch {
    owner = undefined;
  }
  return { owner, createRevision: kv.createRevision };
}

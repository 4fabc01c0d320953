/**
 * Replica membership: `/servers/ID` on the replica's own lease, renewed every TTL/3. The replica
 * counts its lease as valid only until (time the last successful renewal was SENT) + TTL, minus a
 * margin, on a monotonic clock: the store expires it no earlier than that, so a replica that was
 * frozen (SIGSTOP), partitioned or slow stops acting before anyone else can take its shards. When the
 * lease is lost it says so at once (`onLost`), revokes the old lease (best effort) and registers
 * again, as a newcomer.
 */
import {
  ConflictError,
  DabbaError,
  LeaseNotFoundError,
  isStorageError,
  messageOf,
} from '../../errors/index.ts';
import type { Clock, Logger } from '../../lib/index.ts';
import { sleep } from '../../lib/index.ts';
import type { LeaseId, Store } from '../../store/index.ts';
import { haKeys, type ServerRecord } from './keys.ts';

export interface MembershipOptions {
  store: Store;
  logger: Logger;
  /** Wall clock, for the `since` shown to people. */
  clock: Clock;
  id: string;
  url: string;
  shardCount: number;
  ttlSeconds: number;
  /** Monotonic milliseconds (default performance.now). */
  monotonic?: () => number;
}

/** A lease this replica holds now. */
export interface HeldLease {
  id: LeaseId;
  ttlMs: number;
  /** Monotonic time until which the lease certainly exists in the store. */
  validUntil: number;
  /** Registration time (wall clock). */
  since: number;
}

/** Value of /servers/ID as written by this version (shards: the replica's shard count). */
export interface RegisteredServer extends ServerRecord {
  shards: number;
}

export class Membership {
  readonly #o: MembershipOptions;
  readonly #now: () => number;
  #lease: HeldLease | undefined;
  #expiry: NodeJS.Timeout | undefined;
  /** Leases this replica held before (their keys may outlive a local give-up). */
  readonly #former = new Set<LeaseId>();
  #registrations = 0;
  readonly #onLost: ((reason: string) => void)[] = [];
  readonly #onRegistered: ((lease: HeldLease) => void)[] = [];

  constructor(options: MembershipOptions) {
    this.#o = options;
    this.#now = options.monotonic ?? (() => performance.now());
  }

  get lease(): HeldLease | undefined {
    return this.#lease;
  }

  /** Whether this replica may act now: it holds a lease that cannot have expired yet. */
  valid(): boolean {
    const l = this.#lease;
    return l !== undefined && this.#now() < l.validUntil;
  }

  /** How many times it registered (1 after start; more after lost leases). */
  get registrations(): number {
    return this.#registrations;
  }

  onLost(fn: (reason: string) => void): void {
    this.#onLost.push(fn);
  }

  onRegistered(fn: (lease: HeldLease) => void): void {
    this.#onRegistered.push(fn);
  }

  /**
   * Registers. On the first registration a `/servers/ID` left by a previous incarnation of this id
   * is replaced (its lease revoked: its shards are free at once). Later, a key held by a lease this
   * replica never had means another live replica uses the same id: ConflictError.
   */
  async register(): Promise<HeldLease> {
    const { store, id } = this.#o;
    const first = this.#registrations === 0;
    await this.#checkShardCount();
    const sent = this.#now();
    const granted = await store.grantLease(this.#o.ttlSeconds);
    const ttlMs = granted.ttlSeconds * 1000;
    const since = this.#o.clock.now();
    const record: RegisteredServer = {
      id,
      url: this.#o.url,
      since,
      lease: granted.id,
      shards: this.#o.shardCount,
    };
    const key = haKeys.server(id);
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        const r = await store.txn({
          compare: [{ key, target: 'create', op: '=', createRevision: 0 }],
          success: [{ type: 'put', key, value: JSON.stringify(record), lease: granted.id }],
          failure: [{ type: 'get', key }],
        });
        if (r.succeeded) {
          const lease: HeldLease = { id: granted.id, ttlMs, validUntil: sent + ttlMs - margin(ttlMs), since };
          this.#lease = lease;
          this.#registrations++;
          this.#arm(lease);
          this.#o.logger.info({ replica: id, lease: lease.id, ttlMs }, 'replica registered');
          for (const fn of this.#onRegistered) fn(lease);
          return lease;
        }
        const existing = r.gets[0];
        if (existing === undefined) continue;
        if (first || this.#former.has(existing.lease) || existing.lease === 0) {
          this.#o.logger.info(
            { replica: id, lease: existing.lease },
            'replacing the registration of a previous incarnation',
          );
          if (existing.lease === 0) await store.delete(key);
          else await store.revokeLease(existing.lease);
          continue;
        }
        throw new ConflictError(`another live replica is registered as "${id}" (lease ${existing.lease})`, {
          details: { replica: id, lease: existing.lease },
        });
      }
      throw new ConflictError(`could not register replica "${id}": its key kept changing`);
    } catch (e) {
      await store.revokeLease(granted.id).catch(() => undefined);
      throw e;
    }
  }

  /** Every replica must hash jobs to the same number of shards. */
  async #checkShardCount(): Promise<void> {
    const { kvs } = await this.#o.store.range(haKeys.serversPrefix);
    for (const kv of kvs) {
      let other: Partial<RegisteredServer>;
      try {
        other = JSON.parse(kv.value) as Partial<RegisteredServer>;
      } catch {
        continue;
      }
      if (other.id === this.#o.id || other.shards === undefined) continue;
      if (other.shards !== this.#o.shardCount) {
        throw new DabbaError(
          'DABBA_E_BAD_REQUEST',
          `replica "${other.id}" uses ${other.shards} shards and this one ${this.#o.shardCount}: every replica must use the same shard count`,
          { details: { replica: other.id, theirs: other.shards, ours: this.#o.shardCount } },
        );
      }
    }
  }

  /** Keeps the lease alive until the signal aborts; registers again whenever it is lost. */
  async run(signal: AbortSignal): Promise<void> {
    const ttlMs = this.#o.ttlSeconds * 1000;
    while (!signal.aborted) {
      if (this.#lease === undefined) {
        try {
          await this.register();
        } catch (e) {
          if (signal.aborted) break;
          if (isStorageError(e)) this.#o.logger.debug({ code: e.code }, 'registration not written; retrying');
          else
            this.#o.logger.warn({ err: messageOf(e), replica: this.#o.id }, 'registration failed; retrying');
          await sleep(Math.min(1000, ttlMs / 3), signal);
          continue;
        }
      }
      await sleep((this.#lease?.ttlMs ?? ttlMs) / 3, signal);
      if (!signal.aborted) await this.#renew();
    }
    clearTimeout(this.#expiry);
  }

  async #renew(): Promise<void> {
    const lease = this.#lease;
    if (lease === undefined) return;
    const sent = this.#now();
    try {
      const l = await this.#o.store.keepAlive(lease.id);
      if (this.#lease !== lease) return;
      const ttlMs = l.ttlSeconds * 1000;
      // A renewal that came back after the lease had already run out locally does not revive it:
      // the replica has stopped acting and must rejoin as a newcomer.
      if (this.#now() >= lease.validUntil) return this.lose('lease renewed too late');
      lease.ttlMs = ttlMs;
      lease.validUntil = sent + ttlMs - margin(ttlMs);
      this.#arm(lease);
    } catch (e) {
      if (this.#lease !== lease) return;
      if (e instanceof LeaseNotFoundError) this.lose('lease expired or revoked');
      else this.#o.logger.warn({ err: messageOf(e), replica: this.#o.id }, 'lease renewal failed');
    }
  }

  /** Fires when the lease runs out locally without a renewal. */
  #arm(lease: HeldLease): void {
    clearTimeout(this.#expiry);
    this.#expiry = setTimeout(
      () => {
        if (this.#lease === lease && this.#now() >= lease.validUntil) this.lose('lease not renewed in time');
        else if (this.#lease === lease) this.#arm(lease);
      },
      Math.max(1, lease.validUntil - this.#now()),
    );
  }

  /** Gives the lease up: stop acting on everything now, then revoke it (best effort). */
  lose(reason: string): void {
    const lease = this.#lease;
    if (lease === undefined) return;
    this.#lease = undefined;
    clearTimeout(this.#expiry);
    this.#former.add(lease.id);
    this.#o.logger.warn({ replica: this.#o.id, lease: lease.id, reason }, 'replica lost its lease');
    for (const fn of this.#onLost) fn(reason);
    void this.#o.store.revokeLease(lease.id).catch(() => undefined);
  }

  /** Leaves: revokes the lease, which deletes `/servers/ID` and every shard key on it, in one revision. */
  async leave(): Promise<void> {
    const lease = this.#lease;
    this.#lease = undefined;
    clearTimeout(this.#expiry);
    if (lease === undefined) return;
    for (const fn of this.#onLost) fn('leaving');
    await this.#o.store.revokeLease(lease.id);
  }
}

/** Safety margin for clock-rate differences between this host and the store. */
function margin(ttlMs: number): number {
  return Math.min(500, ttlMs / 10);
}

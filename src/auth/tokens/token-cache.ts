/**
 * Every token's record in memory, by hash, kept current from a watch on /auth/tokens/: checking a
 * request costs one SHA-256 and a map lookup, no store read. A revoke on this replica is applied
 * here at once (`forget`); on other replicas it arrives through their watch (milliseconds). On a
 * watch failure (compaction included) the cache re-lists; while it has never loaded, lookups wait.
 */
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { backoffDelay, sleep } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { TokenRecord } from './token-record.ts';

export class TokenCache {
  readonly #store: Store;
  readonly #logger: Logger;
  readonly #byHash = new Map<string, TokenRecord>();
  readonly #hashByName = new Map<string, string>();
  #loaded: Promise<void>;
  #resolveLoaded: () => void = () => undefined;

  constructor(store: Store, logger: Logger) {
    this.#store = store;
    this.#logger = logger;
    this.#loaded = new Promise((resolve) => (this.#resolveLoaded = resolve));
  }

  /** Resolves once the cache has been listed (at start). */
  get loaded(): Promise<void> {
    return this.#loaded;
  }

  /** The record of the token with this hash, or undefined (unknown or revoked). */
  byHash(hash: string): TokenRecord | undefined {
    return this.#byHash.get(hash);
  }

  get size(): number {
    return this.#byHash.size;
  }

  /** Applies a record written by this replica before its watch event comes back. */
  remember(r: TokenRecord): void {
    this.#set(r);
  }

  /** Applies a deletion made by this replica at once. */
  forget(name: string): void {
    const h = this.#hashByName.get(name);
    if (h !== undefined) this.#byHash.delete(h);
    this.#hashByName.delete(name);
  }

  #set(r: TokenRecord): void {
    this.forget(r.name);
    this.#byHash.set(r.hash, r);
    this.#hashByName.set(r.name, r.hash);
  }

  #apply(key: string, value: string | undefined): void {
    const name = key.slice(keys.tokensPrefix.length);
    if (value === undefined) {
      this.forget(name);
      return;
    }
    try {
      const r = JSON.parse(value) as TokenRecord;
      if (typeof r.hash === 'string' && r.name === name) this.#set(r);
      else this.forget(name);
    } catch {
      this.forget(name);
    }
  }

  /** Lists and watches until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const { kvs, revision } = await this.#store.range(keys.tokensPrefix);
        this.#byHash.clear();
        this.#hashByName.clear();
        for (const kv of kvs) this.#apply(kv.key, kv.value);
        this.#resolveLoaded();
        failures = 0;
        for await (const batch of this.#store.watch(keys.tokensPrefix, {
          signal,
          fromRevision: revision + 1,
        })) {
          for (const e of batch) this.#apply(e.kv.key, e.type === 'put' ? e.kv.value : undefined);
        }
      } catch (e) {
        if (signal.aborted) break;
        this.#logger.warn({ err: messageOf(e) }, 'token watch failed; listing again');
        await sleep(backoffDelay(failures++, { initialMs: 100, maxMs: 5000 }), signal);
      }
    }
  }
}

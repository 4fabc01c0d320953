/**
 * What every group of the Store conformance suite shares: the per-test fixture (a store, a unique
 * key prefix, watch probes that clean up after themselves) and small helpers.
 */
import type { TestContext } from 'node:test';
import type { KeyValue, Store, WatchEvent } from '../store.ts';

/** What the suite's entry hands each group of tests. */
export interface ConformanceContext {
  /** A store for one test, a unique key prefix, and a watch helper that cleans up after itself. */
  open: (t: TestContext) => Promise<Fixture>;
  /** How long after a lease's TTL its expiry may take to be observed (ms). */
  grace: number;
  /** Writes in the long watch test. */
  manyWrites: number;
}

export interface Fixture {
  store: Store;
  /** Unique key prefix for this test. */
  p: string;
  watch: (prefix: string, fromRevision?: number) => Probe;
}

export function kv(
  key: string,
  value: string,
  createRevision: number,
  modRevision: number,
  version: number,
): KeyValue {
  return { key, value, createRevision, modRevision, version, lease: 0 };
}

/** Consumes a watch in the background, recording batches; waits for conditions on them. */
export class Probe {
  readonly batches: WatchEvent[][] = [];
  readonly events: WatchEvent[] = [];
  readonly done: Promise<void>;
  error: unknown;
  finished = false;
  readonly #ac = new AbortController();
  #listeners: (() => void)[] = [];

  constructor(store: Store, prefix: string, fromRevision?: number) {
    const signal = this.#ac.signal;
    const iterable = store.watch(prefix, fromRevision === undefined ? { signal } : { fromRevision, signal });
    this.done = (async () => {
      try {
        for await (const batch of iterable) {
          this.batches.push(batch);
          for (const e of batch) this.events.push(e);
          this.#notify();
        }
      } catch (e) {
        this.error = e;
      } finally {
        this.finished = true;
        this.#notify();
      }
    })();
  }

  abort(): void {
    this.#ac.abort();
  }

  async waitFor(pred: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.finished) {
        throw new Error(`the watch ended (${String(this.error)}) while waiting for ${what}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `timed out after ${timeoutMs}ms waiting for ${what} (have ${this.events.length} events)`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#listeners.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  waitForEvents(n: number, timeoutMs?: number): Promise<void> {
    return this.waitFor(() => this.events.length >= n, `${n} events`, timeoutMs);
  }

  #notify(): void {
    const l = this.#listeners;
    this.#listeners = [];
    for (const f of l) f();
  }
}

/** The error a watch ends with (undefined if it ends cleanly within 5 s). */
export async function watchError(store: Store, prefix: string, fromRevision: number): Promise<unknown> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), 5000);
  try {
    for await (const _ of store.watch(prefix, { fromRevision, signal: ac.signal })) {
      // Events before the error are not expected, but not the point either.
    }
    return undefined;
  } catch (e) {
    return e;
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
}

export async function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

import type { WatchEvent } from '../store.ts';
import type { Watcher } from './watcher.ts';

/**
 * Routes each committed revision's events to the watchers whose prefix matches, in O(number of
 * distinct prefix lengths) map lookups per event, whatever the number of watchers: watchers are
 * grouped by prefix, and for an event on key k only k's prefixes of the lengths in use are looked up.
 * Watchers sharing a prefix share the filtered event list.
 */
export class WatchHub {
  readonly #byPrefix = new Map<string, Set<Watcher>>();
  /** Prefix length -> number of distinct prefixes of that length; and the lengths, sorted. */
  readonly #lengthCount = new Map<number, number>();
  #lengths: number[] = [];

  stats(): { watchers: number; buffered: number } {
    let watchers = 0;
    let buffered = 0;
    for (const set of this.#byPrefix.values()) {
      watchers += set.size;
      for (const w of set) buffered += w.buffered;
    }
    return { watchers, buffered };
  }

  add(w: Watcher): void {
    let set = this.#byPrefix.get(w.prefix);
    if (set === undefined) {
      set = new Set();
      this.#byPrefix.set(w.prefix, set);
      const len = w.prefix.length;
      const c = this.#lengthCount.get(len) ?? 0;
      this.#lengthCount.set(len, c + 1);
      if (c === 0) this.#lengths = [...this.#lengthCount.keys()].sort((a, b) => a - b);
    }
    set.add(w);
  }

  remove(w: Watcher): void {
    const set = this.#byPrefix.get(w.prefix);
    if (set === undefined || !set.delete(w) || set.size > 0) return;
    this.#byPrefix.delete(w.prefix);
    const len = w.prefix.length;
    const c = (this.#lengthCount.get(len) ?? 1) - 1;
    if (c > 0) {
      this.#lengthCount.set(len, c);
    } else {
      this.#lengthCount.delete(len);
      this.#lengths = [...this.#lengthCount.keys()].sort((a, b) => a - b);
    }
  }

  dispatch(revision: number, events: WatchEvent[]): void {
    if (this.#byPrefix.size === 0) return;
    const groups = new Map<Set<Watcher>, WatchEvent[]>();
    for (const e of events) {
      const key = e.kv.key;
      for (const len of this.#lengths) {
        if (len > key.length) break;
        const set = this.#byPrefix.get(len === key.length ? key : key.slice(0, len));
        if (set === undefined) continue;
        const list = groups.get(set);
        if (list === undefined) groups.set(set, [e]);
        else list.push(e);
      }
    }
    for (const [set, list] of groups) for (const w of set) w.deliver(revision, list);
  }

  /** Ends every watcher (store close). */
  endAll(): void {
    for (const set of [...this.#byPrefix.values()]) for (const w of [...set]) w.end();
  }
}

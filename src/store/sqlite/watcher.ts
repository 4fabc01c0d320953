import { CompactedError } from '../../errors/index.ts';
import type { WatchEvent } from '../store.ts';

/** What a watcher needs from the store to catch up from history. */
export interface HistorySource {
  /** Latest committed revision (every event up to it is in history or compacted). */
  committedRevision(): number;
  /** Oldest revision still in history. */
  compactRevision(): number;
  /**
   * Events for keys under prefix in revisions [from, to], in order, about `limit` at most but never
   * splitting a revision. `next` is the first revision not read. Throws CompactedError if `from` was
   * compacted before the read ran.
   */
  readHistory(
    prefix: string,
    from: number,
    to: number,
    limit: number,
  ): Promise<{ events: WatchEvent[]; next: number }>;
}

export interface WatcherOptions {
  prefix: string;
  /** First revision to deliver. */
  nextRevision: number;
  source: HistorySource;
  signal: AbortSignal;
  /** Live events buffered beyond this many switch the watcher to reading history (memory bound). */
  bufferLimit: number;
  /** Events per history read. */
  chunk: number;
  /** Called once when the watcher stops (abort, close, end of iteration). */
  onEnd: (w: Watcher) => void;
}

interface Batch {
  revision: number;
  events: WatchEvent[];
}

/**
 * One watch. It is in one of two modes:
 * - live: the store hands it each committed revision's events (deliver); they queue until the
 *   consumer pulls, and a pull takes everything queued as one batch.
 * - history: it reads committed events from the history table, in chunks, from `next`. When a read
 *   comes back having reached the revision last handed to watchers (revisions handed out while it
 *   ran are read again), it switches to live in the same synchronous step, so no revision is missed
 *   or seen twice (a commit's result and its delivery happen in one synchronous step too).
 * A watch from an old revision starts in history mode. A live watcher whose consumer is too slow
 * (more than bufferLimit events queued) drops its queue and goes back to history mode: memory stays
 * bounded and nothing is lost, unless history has been compacted past it meanwhile, in which case the
 * consumer gets CompactedError and re-lists.
 */
export class Watcher implements AsyncIterable<WatchEvent[]> {
  readonly prefix: string;
  #next: number;
  #mode: 'live' | 'history';
  #queue: Batch[] = [];
  #queued = 0;
  #ended = false;
  #iterated = false;
  #wake: (() => void) | undefined;
  readonly #o: WatcherOptions;
  readonly #onAbort = (): void => this.end();

  constructor(o: WatcherOptions) {
    this.#o = o;
    this.prefix = o.prefix;
    this.#next = o.nextRevision;
    this.#mode = o.nextRevision <= o.source.committedRevision() ? 'history' : 'live';
    if (o.signal.aborted) this.#ended = true;
    else o.signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Live events queued, not yet handed to the consumer. */
  get buffered(): number {
    return this.#queued;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Hands over the events of a just-committed revision (already filtered to this prefix). */
  deliver(revision: number, events: WatchEvent[]): void {
    if (this.#ended || this.#mode === 'history' || revision < this.#next) return;
    this.#queue.push({ revision, events });
    this.#queued += events.length;
    if (this.#queued > this.#o.bufferLimit) {
      // Too far behind: forget the buffer, re-read it from history when the consumer is ready.
      this.#queue = [];
      this.#queued = 0;
      this.#mode = 'history';
    }
    this.#notify();
  }

  /** Stops the watch: the iterator returns cleanly at its next step. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue = [];
    this.#queued = 0;
    this.#o.signal.removeEventListener('abort', this.#onAbort);
    this.#o.onEnd(this);
    this.#notify();
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent[]> {
    if (this.#iterated) throw new TypeError('a watch can be iterated only once');
    this.#iterated = true;
    return this.#run();
  }

  async *#run(): AsyncGenerator<WatchEvent[], void, undefined> {
    try {
      for (;;) {
        if (this.#ended) return;
        if (this.#mode === 'history') {
          const events = await this.#readHistory();
          if (events.length > 0) yield events;
          continue;
        }
        if (this.#queue.length > 0) {
          yield this.#drain();
          continue;
        }
        await new Promise<void>((resolve) => (this.#wake = resolve));
      }
    } finally {
      this.end();
    }
  }

  async #readHistory(): Promise<WatchEvent[]> {
    const { source, prefix, chunk } = this.#o;
    const to = source.committedRevision();
    if (this.#next <= to) {
      const oldest = source.compactRevision();
      if (this.#next < oldest) throw new CompactedError(this.#next, oldest);
      const { events, next } = await source.readHistory(prefix, this.#next, to, chunk);
      if (this.#ended) return [];
      this.#next = next;
      // Revisions committed while the read ran were not delivered live (history mode): read them.
      if (next <= source.committedRevision()) return events;
      this.#mode = 'live';
      return events;
    }
    this.#mode = 'live';
    return [];
  }

  #drain(): WatchEvent[] {
    const q = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    const last = q[q.length - 1];
    if (last !== undefined) this.#next = last.revision + 1;
    if (q.length === 1 && last !== undefined) return last.events.slice();
    const out: WatchEvent[] = [];
    for (const b of q) for (const e of b.events) out.push(e);
    return out;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

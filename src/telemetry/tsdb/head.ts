/**
 * The head: for each series, the open chunk of its current 2 h window (a Gorilla encoder appended
 * to in place), plus chunks already closed but not yet cut into a block. Every accepted point is
 * also buffered in its window's head log segment, which `flush()` makes durable.
 */
import { GorillaEncoder } from './gorilla.ts';
import { HeadSegment } from './head-log.ts';
import { WINDOW_MS } from './layout.ts';

/** A chunk closes at this many points even inside its window (a series written faster than 1/s). */
export const MAX_CHUNK_POINTS = 7200;

export interface ClosedChunk {
  ref: number;
  count: number;
  bytes: Uint8Array;
}

interface HeadSeries {
  window: number;
  enc: GorillaEncoder | null;
  lastT: number;
  seg: HeadSegment | null;
}

export class Head {
  readonly #dir: string;
  readonly #series: HeadSeries[] = [];
  /** Closed chunks by window. */
  readonly #closed = new Map<number, ClosedChunk[]>();
  /** Open head log segment by window. */
  readonly segments = new Map<number, HeadSegment>();
  /** Next seq for a window's next segment (and block). */
  readonly #nextSeq = new Map<number, number>();
  /** Points before this time are refused (their day is rolled up already). */
  frozenBefore = 0;

  /**
   * The time of a series' last point stored outside the head (raw blocks), asked once per series on
   * its first append after an open: so that points re-sent after a restart for a window already cut
   * into a block are refused as duplicates, not stored twice.
   */
  readonly #lastStored: (ref: number) => number;

  constructor(headDir: string, lastStored: (ref: number) => number = () => -1) {
    this.#dir = headDir;
    this.#lastStored = lastStored;
  }

  /** Makes sure a window's next segment number is above `seq` (blocks and files found on open). */
  seenSeq(window: number, seq: number): void {
    if ((this.#nextSeq.get(window) ?? 0) <= seq) this.#nextSeq.set(window, seq + 1);
  }

  /** Adopts a segment found on disk as the open one of its window (replay follows). */
  adopt(seg: HeadSegment): void {
    this.segments.set(seg.window, seg);
    this.seenSeq(seg.window, seg.seq);
  }

  /**
   * Appends one point. Refused (false): a timestamp that is not an integer in [0, 2^53), not after
   * the series' last point, or before `frozenBefore`. `log` false while replaying the head log.
   */
  append(ref: number, t: number, v: number, log = true): boolean {
    let s = this.#series[ref];
    if (s === undefined) {
      s = { window: -1, enc: null, lastT: this.#lastStored(ref), seg: null };
      this.#series[ref] = s;
    }
    if (!(t > s.lastT) || t >= 2 ** 53 || t < this.frozenBefore || Math.floor(t) !== t) return false;
    const w = t - (t % WINDOW_MS);
    if (s.window !== w || s.enc === null) {
      if (s.enc !== null) this.#close(ref, s);
      s.window = w;
      s.enc = new GorillaEncoder(1, 32);
      s.seg = this.#segment(w);
    } else if (s.enc.count >= MAX_CHUNK_POINTS) {
      this.#close(ref, s);
      s.enc = new GorillaEncoder(1, 32);
    }
    s.enc.append(t, v);
    s.lastT = t;
    if (log) s.seg!.push(ref, t, v);
    return true;
  }

  /** Windows with data in the head, oldest first. */
  windows(): number[] {
    const ws = new Set<number>(this.segments.keys());
    for (const w of this.#closed.keys()) ws.add(w);
    return [...ws].sort((a, b) => a - b);
  }

  /**
   * Takes every chunk of a window out of the head (closing open ones) for cutting into a block:
   * the chunks and the segment whose seq the block takes.
   */
  take(window: number): { chunks: ClosedChunk[]; seq: number; segment: HeadSegment | undefined } {
    this.#series.forEach((s, ref) => {
      if (s.enc !== null && s.window === window) {
        this.#close(ref, s);
        s.enc = null;
        s.seg = null;
      }
    });
    const chunks = this.#closed.get(window) ?? [];
    this.#closed.delete(window);
    const segment = this.segments.get(window);
    this.segments.delete(window);
    const seq = segment?.seq ?? this.#take(window);
    return { chunks, seq, segment };
  }

  /**
   * The head's chunks of one series overlapping [start, end), oldest first (copies of open ones).
   */
  chunksOf(ref: number, start: number, end: number): { count: number; bytes: Uint8Array }[] {
    const out: { window: number; count: number; bytes: Uint8Array }[] = [];
    for (const [w, list] of this.#closed) {
      if (w + WINDOW_MS <= start || w >= end) continue;
      for (const c of list) if (c.ref === ref) out.push({ window: w, count: c.count, bytes: c.bytes });
    }
    const s = this.#series[ref];
    if (s?.enc != null && s.enc.count > 0 && s.window < end && s.window + WINDOW_MS > start) {
      out.push({ window: s.window + 0.5, count: s.enc.count, bytes: s.enc.bytes() });
    }
    return out.sort((a, b) => a.window - b.window);
  }

  /** Points held in the head (open and closed chunks). */
  get pointCount(): number {
    let n = 0;
    for (const list of this.#closed.values()) for (const c of list) n += c.count;
    for (const s of this.#series) if (s?.enc) n += s.enc.count;
    return n;
  }

  #close(ref: number, s: HeadSeries): void {
    const enc = s.enc!;
    if (enc.count === 0) return;
    const list = this.#closed.get(s.window);
    const c = { ref, count: enc.count, bytes: enc.bytes() };
    if (list === undefined) this.#closed.set(s.window, [c]);
    else list.push(c);
  }

  #segment(w: number): HeadSegment {
    let seg = this.segments.get(w);
    if (seg === undefined) {
      seg = new HeadSegment(this.#dir, w, this.#take(w));
      this.segments.set(w, seg);
    }
    return seg;
  }

  #take(w: number): number {
    const seq = this.#nextSeq.get(w) ?? 0;
    this.#nextSeq.set(w, seq + 1);
    return seq;
  }
}

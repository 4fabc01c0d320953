/**
 * Reads one series over a time range from every place it lives, in time order: hourly roll-ups,
 * 5-minute roll-ups, raw blocks, then the head. Tiers never overlap in time (a roll-up replaces its
 * sources), so the visitor sees points strictly increasing in time; a point not after the last one
 * seen (a duplicate delivered again after a restart) is skipped. Decoding reuses scratch buffers.
 */
import type { BlockSet } from './block-set.ts';
import { decodeSeries, type DecodedCache, type DecodedSeries } from './decoded-cache.ts';
import { decodeInto } from './gorilla.ts';
import { decodeSealed } from './sealed-chunk.ts';
import type { Head } from './head.ts';
import type { BlockReader } from './block-file.ts';
import { DabbaError } from '../../errors/index.ts';
import { TIER_RESOLUTION, type Tier } from './layout.ts';
import { ROLLUP_COLUMNS } from './rollup.ts';

export interface Visitor {
  /** A raw point. */
  point(t: number, v: number): void;
  /** A roll-up bucket [t, t + resolution). */
  bucket(t: number, resolution: number, min: number, max: number, sum: number, count: number): void;
  /** Optional: points lo..hi-1 of a decoded series at once, as `point` on each would take them. */
  run?(d: DecodedSeries, lo: number, hi: number): void;
}

export class SeriesReader {
  readonly #blocks: BlockSet;
  readonly #head: Head | undefined;
  readonly #cache: DecodedCache | undefined;
  #ts = new Float64Array(1024);
  #vals = new Float64Array(1024 * ROLLUP_COLUMNS);

  constructor(blocks: BlockSet, head?: Head, cache?: DecodedCache) {
    this.#blocks = blocks;
    this.#head = head;
    this.#cache = cache;
  }

  /**
   * Visits series `id` (head ref `ref`, or -1 to skip the head) over [start, end) in the given
   * tiers (all by default).
   */
  visit(id: string, ref: number, start: number, end: number, v: Visitor, tiers?: readonly Tier[]): void {
    let last = -Infinity;
    for (const tier of ['1h', '5m', 'raw'] as const) {
      if (tiers !== undefined && !tiers.includes(tier)) continue;
      for (const b of this.#blocks.overlapping(tier, start, end)) {
        if (tier === 'raw' && this.#cache !== undefined) {
          last = this.#emitCached(b.reader, id, start, end, last, v, this.#cache);
          continue;
        }
        const s = b.reader.series(id);
        if (s === undefined) continue;
        last = this.#emit(
          s.bytes,
          s.count,
          b.reader.meta.columns,
          TIER_RESOLUTION[tier],
          start,
          end,
          last,
          v,
          b.reader.path,
          tier === 'raw',
        );
      }
    }
    if (this.#head !== undefined && ref >= 0 && (tiers === undefined || tiers.includes('raw'))) {
      for (const c of this.#head.chunksOf(ref, start, end)) {
        last = this.#emit(c.bytes, c.count, 1, 0, start, end, last, v, 'head', false);
      }
    }
  }

  /** A raw block's series through the decoded cache; same points as #emit would give. */
  #emitCached(
    reader: BlockReader,
    id: string,
    start: number,
    end: number,
    last: number,
    v: Visitor,
    cache: DecodedCache,
  ): number {
    const d = cache.get(reader.serial, id, () => {
      const s = reader.series(id) ?? { count: 0, bytes: new Uint8Array(2) };
      return decodeSeries(s.bytes, s.count) ?? this.#damaged(reader.path);
    });
    // Points are strictly increasing in a stream: those kept are one index range.
    const from = Math.max(start, Math.floor(last) + 1);
    const lo = firstAtOrAfter(d, from);
    const hi = firstAtOrAfter(d, end);
    if (hi <= lo) return last;
    if (v.run !== undefined) v.run(d, lo, hi);
    else {
      const { ts, t0, dt, vals } = d;
      for (let k = lo; k < hi; k++) v.point(ts === null ? t0 + k * dt : ts[k]!, vals[k]!);
    }
    return d.ts === null ? d.t0 + (hi - 1) * d.dt : d.ts[hi - 1]!;
  }

  #damaged(where: string): never {
    throw new DabbaError('DABBA_E_STORE', `${where}: a series stream is shorter than its point count`);
  }

  #emit(
    bytes: Uint8Array,
    count: number,
    columns: number,
    resolution: number,
    start: number,
    end: number,
    last: number,
    v: Visitor,
    where: string,
    sealed: boolean,
  ): number {
    if (this.#ts.length < count) {
      this.#ts = new Float64Array(count * 2);
      this.#vals = new Float64Array(count * 2 * ROLLUP_COLUMNS);
    }
    const ts = this.#ts;
    const vals = this.#vals;
    const ok = sealed ? decodeSealed(bytes, count, ts, vals) : decodeInto(bytes, count, columns, ts, vals);
    if (!ok) this.#damaged(where);
    for (let i = 0; i < count; i++) {
      const t = ts[i]!;
      if (t < start || t <= last) continue;
      if (t >= end) break;
      last = t;
      if (columns === 1) v.point(t, vals[i]!);
      else {
        const o = i * columns;
        v.bucket(t, resolution, vals[o]!, vals[o + 1]!, vals[o + 2]!, vals[o + 3]!);
      }
    }
    return last;
  }
}

/** The index of the first point at or after t (count when none). */
function firstAtOrAfter(d: DecodedSeries, t: number): number {
  if (d.ts === null) {
    if (t <= d.t0) return 0;
    if (d.dt <= 0) return d.count;
    return Math.min(d.count, Math.ceil((t - d.t0) / d.dt));
  }
  let lo = 0;
  let hi = d.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (d.ts[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

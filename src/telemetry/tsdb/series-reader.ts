/**
 * Reads one series over a time range from every place it lives, in time order: hourly roll-ups,
 * 5-minute roll-ups, raw blocks, then the head. Tiers never overlap in time (a roll-up replaces its
 * sources), so the visitor sees points strictly increasing in time; a point not after the last one
 * seen (a duplicate delivered again after a restart) is skipped. Decoding reuses scratch buffers.
 */
import type { BlockSet } from './block-set.ts';
import { decodeInto } from './gorilla.ts';
import { decodeSealed } from './sealed-chunk.ts';
import type { Head } from './head.ts';
import { DabbaError } from '../../errors/index.ts';
import { TIER_RESOLUTION, type Tier } from './layout.ts';
import { ROLLUP_COLUMNS } from './rollup.ts';

export interface Visitor {
  /** A raw point. */
  point(t: number, v: number): void;
  /** A roll-up bucket [t, t + resolution). */
  bucket(t: number, resolution: number, min: number, max: number, sum: number, count: number): void;
}

export class SeriesReader {
  readonly #blocks: BlockSet;
  readonly #head: Head | undefined;
  #ts = new Float64Array(1024);
  #vals = new Float64Array(1024 * ROLLUP_COLUMNS);

  constructor(blocks: BlockSet, head?: Head) {
    this.#blocks = blocks;
    this.#head = head;
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
    if (!ok) {
      throw new DabbaError('DABBA_E_STORE', `${where}: a series stream is shorter than its point count`);
    }
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

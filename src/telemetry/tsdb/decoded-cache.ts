/**
 * A bounded cache of decoded raw series streams of sealed blocks (blocks are written once and never
 * change, so an entry never goes stale; a block that is rolled up and removed just stops being
 * asked for and ages out). A query then reads a series' points from typed arrays instead of a
 * pread, a crc32 and a Gorilla decode each time. Timestamps of a regular series (every delta the
 * same, what an agent stamping its scheduled tick gives) are kept as a start and a delta, so such a
 * series costs 8 bytes per point; others 16. Once the total passes `maxBytes`, the least recently used entries
 * are dropped down to three quarters of it (0 turns the cache off).
 */
import type { TimeShape } from './packed-chunk.ts';
import { decodeSealed } from './sealed-chunk.ts';

export interface DecodedSeries {
  readonly count: number;
  /** Timestamps, or null when regular: t[k] = t0 + k * dt. */
  readonly ts: Float64Array | null;
  readonly t0: number;
  readonly dt: number;
  readonly vals: Float64Array;
  readonly bytes: number;
}

/** Timestamps are decoded here first: most series are regular and keep none (no array to collect). */
let scratch = new Float64Array(1024);
const shape: TimeShape = { regular: false, dt: 0 };

/** Decodes a sealed stream into a DecodedSeries; null when damaged. */
export function decodeSeries(sealed: Uint8Array, count: number): DecodedSeries | null {
  if (scratch.length < count) scratch = new Float64Array(Math.max(count, scratch.length * 2));
  const ts = scratch.subarray(0, count);
  const vals = new Float64Array(count);
  if (!decodeSealed(sealed, count, ts, vals, shape)) return null;
  const t0 = count > 0 ? ts[0]! : 0;
  if (shape.regular) {
    const dt = count > 1 ? shape.dt : 0;
    return { count, ts: null, t0, dt, vals, bytes: 64 + 8 * count };
  }
  const dt = count > 1 ? ts[1]! - t0 : 0;
  let regular = true;
  for (let k = 2; k < count; k++) {
    if (ts[k] !== t0 + k * dt) {
      regular = false;
      break;
    }
  }
  const keep = regular ? null : ts.slice();
  return { count, ts: keep, t0, dt, vals, bytes: 64 + 8 * count + (keep === null ? 0 : 8 * count) };
}

interface Entry {
  d: DecodedSeries;
  used: number;
}

export class DecodedCache {
  readonly maxBytes: number;
  /** Entries by block (BlockReader.serial), then series id. */
  readonly #blocks = new Map<number, Map<string, Entry>>();
  #bytes = 0;
  #tick = 0;
  hits = 0;
  misses = 0;

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The entry of (block, id), or what `load` gives (cached when it fits the budget). */
  get(block: number, id: string, load: () => DecodedSeries): DecodedSeries {
    let m = this.#blocks.get(block);
    const hit = m?.get(id);
    if (hit !== undefined) {
      this.hits++;
      hit.used = ++this.#tick;
      return hit.d;
    }
    this.misses++;
    const d = load();
    if (d.bytes > this.maxBytes) return d;
    if (m === undefined) {
      m = new Map();
      this.#blocks.set(block, m);
    }
    m.set(id, { d, used: ++this.#tick });
    this.#bytes += d.bytes;
    if (this.#bytes > this.maxBytes) this.#evict();
    return d;
  }

  clear(): void {
    this.#blocks.clear();
    this.#bytes = 0;
  }

  /** Drops the least recently used entries down to 3/4 of the budget (one sort per eviction round). */
  #evict(): void {
    const all: { block: number; id: string; e: Entry }[] = [];
    for (const [block, m] of this.#blocks) for (const [id, e] of m) all.push({ block, id, e });
    all.sort((a, b) => a.e.used - b.e.used);
    const target = (this.maxBytes * 3) / 4;
    for (const { block, id, e } of all) {
      if (this.#bytes <= target) break;
      const m = this.#blocks.get(block)!;
      m.delete(id);
      if (m.size === 0) this.#blocks.delete(block);
      this.#bytes -= e.d.bytes;
    }
  }
}

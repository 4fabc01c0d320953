/**
 * Sealed chunks: how a raw series' points are stored in a block. Layout: u8 mode, u8 k, then the
 * bits. When a chunk is sealed, its points are coded as Gorilla XOR (mode 0, gorilla.ts) and, when
 * every value is an integer after scaling by 10^k (k = 0..3; counters, histogram buckets, byte
 * gauges, CPU in thousandths), as packed integers (mode 3, packed-chunk.ts); the smaller is kept.
 * Modes 1 (bucketed integer deltas) and 2 (deltas of deltas) were written up to session 8 and are
 * still read: a block on disk never needs rewriting. Exact: a value is only coded as an integer
 * when dividing that integer by 10^k gives back the same float64 (so never for -0, NaN or
 * infinities).
 */
import { decode, decodeInto, MAX_INT_VALUE, type ValueMode } from './gorilla.ts';
import { decodePacked, encodePacked, PACKED_MODE, type TimeShape } from './packed-chunk.ts';

/** Modes 0..2: Gorilla streams (mode 0 is still written; 1 and 2 only read, from older blocks). */
const OLD_MODES: readonly ValueMode[] = ['xor', 'delta', 'dod'];

/** The decimal scale (10^k, k <= 3) that makes every value an exact integer, or 0 if none does. */
function integerScale(vals: Float64Array, count: number): number {
  next: for (let scale = 1; scale <= 1000; scale *= 10) {
    for (let i = 0; i < count; i++) {
      const v = vals[i]!;
      const x = Math.round(v * scale);
      if (x / scale !== v || Object.is(v, -0) || Math.abs(x) >= MAX_INT_VALUE) continue next;
    }
    return scale;
  }
  return 0;
}

/** Seals a chunk given as an XOR stream of `count` points (the head's encoding). */
export function sealChunk(xorBytes: Uint8Array, count: number): Uint8Array {
  const { ts, vals } = decode(xorBytes, count);
  let best = xorBytes;
  let mode = 0;
  let k = 0;
  const scale = count > 0 ? integerScale(vals, count) : 0;
  if (scale > 0) {
    const bytes = encodePacked(ts, vals, count, scale);
    if (bytes.length < best.length) {
      best = bytes;
      mode = PACKED_MODE;
      k = Math.round(Math.log10(scale));
    }
  }
  const out = new Uint8Array(best.length + 2);
  out[0] = mode;
  out[1] = k;
  out.set(best, 2);
  return out;
}

/**
 * Decodes a sealed chunk into ts and vals (which must hold `count`); false if damaged. With `shape`,
 * regular timestamps may be left unwritten but ts[0] (packed-chunk.ts decodePacked).
 */
export function decodeSealed(
  sealed: Uint8Array,
  count: number,
  ts: Float64Array,
  vals: Float64Array,
  shape?: TimeShape,
): boolean {
  const k = sealed[1] ?? 255;
  if (k > 3) return false;
  if (sealed[0] === PACKED_MODE) return decodePacked(sealed.subarray(2), count, ts, vals, 10 ** k, shape);
  if (shape !== undefined) shape.regular = false;
  const mode = OLD_MODES[sealed[0] ?? 255];
  if (mode === undefined) return false;
  return decodeInto(sealed.subarray(2), count, 1, ts, vals, mode, 10 ** k);
}

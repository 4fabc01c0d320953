/**
 * Sealed chunks: how a raw series' points are stored in a block. When a chunk is sealed, its
 * points are coded three ways and the smallest wins: Gorilla XOR, or, when every value is an
 * integer after scaling by 10^k (k = 0..3; counters, histogram buckets, byte gauges, CPU in
 * thousandths), bucketed integer deltas or deltas of deltas. Layout: u8 mode (0 xor, 1 delta,
 * 2 dod), u8 k, then the bit stream (gorilla.ts). Exact: a value is only coded as an integer when
 * dividing that integer by 10^k gives back the same float64 (so never for -0, NaN or infinities).
 */
import { decode, decodeInto, GorillaEncoder, MAX_INT_VALUE, type ValueMode } from './gorilla.ts';

const MODES: readonly ValueMode[] = ['xor', 'delta', 'dod'];

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
  const scale = integerScale(vals, count);
  if (scale > 0) {
    for (const m of [1, 2]) {
      const enc = new GorillaEncoder(1, Math.max(64, xorBytes.length), MODES[m], scale);
      for (let i = 0; i < count; i++) enc.append(ts[i]!, vals[i]!);
      const bytes = enc.bytes();
      if (bytes.length < best.length) {
        best = bytes;
        mode = m;
        k = Math.round(Math.log10(scale));
      }
    }
  }
  const out = new Uint8Array(best.length + 2);
  out[0] = mode;
  out[1] = k;
  out.set(best, 2);
  return out;
}

/** Decodes a sealed chunk into ts and vals (which must hold `count`); false if damaged. */
export function decodeSealed(
  sealed: Uint8Array,
  count: number,
  ts: Float64Array,
  vals: Float64Array,
): boolean {
  const mode = MODES[sealed[0] ?? 255];
  const k = sealed[1] ?? 255;
  if (mode === undefined || k > 3) return false;
  return decodeInto(sealed.subarray(2), count, 1, ts, vals, mode, 10 ** k);
}

/**
 * Sealed chunk mode 3, "packed": a chunk whose values are all integers after scaling by 10^k
 * (counters, histogram buckets, byte gauges, CPU in thousandths), stored as two sections of one
 * bit stream (bits.ts) after the mode and k bytes (sealed-chunk.ts):
 *
 * Timestamps: the first in 64 bits; then one bit: 1 = regular (every delta the same; the delta
 * follows in 64 bits and nothing else: what an agent stamping its scheduled tick gives), 0 = each
 * next delta of deltas in Gorilla's buckets (gorilla.ts writeTimeDod).
 *
 * Values, as integers x = v * 10^k: the first in 64 bits; g, the greatest common divisor of the
 * deltas (pages of 4096 bytes, for one), as 6 bits of length and its bits; then one bit for how the
 * deltas divided by g are coded:
 *   0 "frame of reference" (as Parquet's DELTA_BINARY_PACKED, after Lemire and Boytsov's binary
 *     packing): 4 bits b, then miniblocks of 2^b deltas, each: 6 bits width w, the miniblock's
 *     minimum as a zigzag difference from the previous miniblock's (6 bits of length and its bits),
 *     then each delta minus the minimum in w bits. Counters' noisy increments cost about the log2 of
 *     their spread, a steady counter 0 bits.
 *   1 bucketed (gorilla.ts writeInt): 0 -> '0', small deltas in few bits; for gauges that change
 *     now and then (most deltas 0).
 * The encoder computes both sizes (every miniblock size from 32 to 1024) and writes the smaller.
 * Integers stay under 2^50 (MAX_INT_VALUE), so every quantity here is exact in a float64.
 */
import { BitReader, BitWriter } from './bits.ts';
import {
  readInt,
  readSigned64,
  readTimeDod,
  writeInt,
  writeSigned64,
  writeTimeDod,
  NOMINAL_DELTA_MS,
} from './gorilla.ts';

export const PACKED_MODE = 3;

const POW32 = 2 ** 32;

/** Bits needed for a non-negative integer below 2^53 (0 for 0). */
function bitLength(x: number): number {
  return x < POW32 ? 32 - Math.clz32(x) : 64 - Math.clz32(Math.floor(x / POW32));
}

const zigzag = (d: number): number => (d >= 0 ? 2 * d : -2 * d - 1);
const unzigzag = (z: number): number => (z % 2 === 0 ? z / 2 : -(z + 1) / 2);

function writeUint(w: BitWriter, x: number, n: number): void {
  const hi = Math.floor(x / POW32);
  w.writeBits64(hi, x - hi * POW32, n);
}

function readUint(r: BitReader, n: number): number {
  if (n <= 32) return r.readBits(n);
  r.readBits64(n);
  return r.hi * POW32 + r.lo;
}

/** A non-negative integer as 6 bits of length, then its bits. */
function writeSized(w: BitWriter, x: number): void {
  const n = bitLength(x);
  w.writeBits(n, 6);
  writeUint(w, x, n);
}

function readSized(r: BitReader): number {
  return readUint(r, r.readBits(6));
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

function bucketBits(d: number): number {
  if (d === 0) return 1;
  if (d >= -31 && d <= 32) return 8;
  if (d >= -2047 && d <= 2048) return 15;
  return d >= -524287 && d <= 524288 ? 24 : 68;
}

/** Bits of the frame-of-reference coding of `ds` in miniblocks of `size`. */
function packedBits(ds: Float64Array, size: number): number {
  let bits = 4;
  let prevMin = 0;
  for (let i = 0; i < ds.length; i += size) {
    let min = ds[i]!;
    let max = min;
    const end = Math.min(ds.length, i + size);
    for (let j = i + 1; j < end; j++) {
      const d = ds[j]!;
      if (d < min) min = d;
      else if (d > max) max = d;
    }
    bits += 12 + bitLength(zigzag(min - prevMin)) + bitLength(max - min) * (end - i);
    prevMin = min;
  }
  return bits;
}

function writePacked(w: BitWriter, ds: Float64Array, log2: number): void {
  const size = 2 ** log2;
  w.writeBits(log2, 4);
  let prevMin = 0;
  for (let i = 0; i < ds.length; i += size) {
    const end = Math.min(ds.length, i + size);
    let min = ds[i]!;
    let max = min;
    for (let j = i + 1; j < end; j++) {
      const d = ds[j]!;
      if (d < min) min = d;
      else if (d > max) max = d;
    }
    const width = bitLength(max - min);
    w.writeBits(width, 6);
    writeSized(w, zigzag(min - prevMin));
    prevMin = min;
    for (let j = i; j < end; j++) writeUint(w, ds[j]! - min, width);
  }
}

function writeTimestamps(w: BitWriter, ts: ArrayLike<number>, count: number): void {
  writeSigned64(w, ts[0]!);
  const dt = count > 1 ? ts[1]! - ts[0]! : 0;
  let regular = true;
  for (let i = 2; i < count && regular; i++) regular = ts[i]! - ts[i - 1]! === dt;
  w.writeBit(regular ? 1 : 0);
  if (regular) {
    writeSigned64(w, dt);
    return;
  }
  let prev = NOMINAL_DELTA_MS;
  for (let i = 1; i < count; i++) {
    const delta = ts[i]! - ts[i - 1]!;
    writeTimeDod(w, delta - prev);
    prev = delta;
  }
}

/**
 * Encodes `count` (>= 1) points whose values times `scale` are integers under 2^50 (the caller
 * checks: sealed-chunk.ts integerScale). Returns the stream after the mode and k bytes.
 */
export function encodePacked(
  ts: ArrayLike<number>,
  vals: ArrayLike<number>,
  count: number,
  scale: number,
): Uint8Array {
  const w = new BitWriter(64 + count);
  writeTimestamps(w, ts, count);
  const ds = new Float64Array(Math.max(0, count - 1));
  let prev = Math.round(vals[0]! * scale);
  writeSigned64(w, prev);
  let g = 0;
  for (let i = 1; i < count; i++) {
    const x = Math.round(vals[i]! * scale);
    ds[i - 1] = x - prev;
    g = gcd(g, x - prev);
    prev = x;
  }
  if (g === 0) g = 1;
  writeSized(w, g);
  let bucketed = 0;
  for (let i = 0; i < ds.length; i++) {
    ds[i] = ds[i]! / g;
    bucketed += bucketBits(ds[i]!);
  }
  let best = -1;
  let bestBits = bucketed;
  for (let log2 = 5; log2 <= 10; log2++) {
    const bits = packedBits(ds, 2 ** log2);
    if (bits < bestBits) {
      bestBits = bits;
      best = log2;
    }
  }
  if (best < 0) {
    w.writeBit(1);
    for (let i = 0; i < ds.length; i++) writeInt(w, ds[i]!);
  } else {
    w.writeBit(0);
    writePacked(w, ds, best);
  }
  return w.bytes();
}

/** Filled by a decode that was given it: whether the timestamps were regular (then only ts[0] is set). */
export interface TimeShape {
  regular: boolean;
  dt: number;
}

function readTimestamps(r: BitReader, count: number, ts: Float64Array, shape?: TimeShape): void {
  let t = readSigned64(r);
  ts[0] = t;
  if (shape !== undefined) shape.regular = false;
  if (r.readBit() === 1) {
    const dt = readSigned64(r);
    if (shape !== undefined) {
      shape.regular = true;
      shape.dt = dt;
      return;
    }
    for (let i = 1; i < count; i++) ts[i] = t + i * dt;
    return;
  }
  let delta = NOMINAL_DELTA_MS;
  for (let i = 1; i < count; i++) {
    delta += readTimeDod(r);
    t += delta;
    ts[i] = t;
  }
}

function readPacked(
  r: BitReader,
  count: number,
  vals: Float64Array,
  x: number,
  g: number,
  scale: number,
): void {
  const size = 2 ** r.readBits(4);
  let min = 0;
  for (let i = 1; i < count; i += size) {
    const end = Math.min(count, i + size);
    const width = r.readBits(6);
    min += unzigzag(readSized(r));
    if (width === 0) {
      for (let j = i; j < end; j++) {
        x += min * g;
        vals[j] = x / scale;
      }
    } else if (width <= 25) {
      r.readRun(width, end - i, vals, i);
      if (g === 1 && scale === 1) for (let j = i; j < end; j++) vals[j] = x += min + vals[j]!;
      else {
        for (let j = i; j < end; j++) {
          x += (min + vals[j]!) * g;
          vals[j] = x / scale;
        }
      }
    } else if (width <= 32) {
      for (let j = i; j < end; j++) {
        x += (min + r.readBits(width)) * g;
        vals[j] = x / scale;
      }
    } else {
      for (let j = i; j < end; j++) {
        x += (min + readUint(r, width)) * g;
        vals[j] = x / scale;
      }
    }
    if (r.overrun) return;
  }
}

/**
 * Decodes a packed stream (after the mode and k bytes) into ts and vals; false if damaged. Given
 * `shape`, regular timestamps are not written out (only ts[0]): shape says so and gives the delta.
 */
export function decodePacked(
  bytes: Uint8Array,
  count: number,
  ts: Float64Array,
  vals: Float64Array,
  scale: number,
  shape?: TimeShape,
): boolean {
  if (count === 0) return true;
  const r = new BitReader(bytes);
  readTimestamps(r, count, ts, shape);
  let x = readSigned64(r);
  vals[0] = x / scale;
  const g = readSized(r);
  if (r.readBit() === 0) readPacked(r, count, vals, x, g, scale);
  else {
    for (let i = 1; i < count; i++) {
      x += readInt(r) * g;
      vals[i] = x / scale;
    }
  }
  return !r.overrun;
}

/**
 * Gorilla compression (Pelkonen et al., "Gorilla: A Fast, Scalable, In-Memory Time Series
 * Database", VLDB 2015, section 4.1), for integer millisecond timestamps and any number of float64
 * value columns sharing those timestamps (1 for raw points; 4 for roll-ups: min, max, sum, count).
 *
 * Timestamps: the first is written in 64 bits; each next one as the delta of deltas
 * D = (t[n] - t[n-1]) - (t[n-1] - t[n-2]), with the delta before the first taken as NOMINAL_DELTA_MS
 * (so a regular 10 s series spends one bit on its first delta too). The paper's buckets are for
 * seconds; ours are for milliseconds at a 10 s interval:
 *   D = 0                 '0'
 *   D in [-63, 64]        '10'   + 7 bits   (collection jitter of tens of ms)
 *   D in [-511, 512]      '110'  + 10 bits  (jitter up to half a second)
 *   D in [-16383, 16384]  '1110' + 15 bits  (one missed or extra 10 s collection)
 *   otherwise             '1111' + 64 bits  (two's complement)
 * Values: each column XORs the float64 bits with its previous value (the first is written whole):
 *   XOR = 0               '0'
 *   fits the previous window of meaningful bits (at least as many leading and trailing zeros)
 *                         '10' + the meaningful bits
 *   otherwise             '11' + 5 bits leading zeros (capped at 31) + 6 bits meaningful length
 *                         (64 written as 0) + the meaningful bits
 * Bits are exact: -0, infinities and subnormals come back bit for bit, and NaN as NaN (its payload
 * too as far as JavaScript keeps it, which the language does not promise: nothing here relies on it).
 */
import { BitReader, BitWriter } from './bits.ts';

/** The delta assumed before the first one: a 10 s collection interval. */
export const NOMINAL_DELTA_MS = 10_000;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);
/** Index of the high and low 32-bit halves of a float64 in `u32` (platform endianness). */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
const LO = 1 - HI;

const ctz32 = (x: number): number => 31 - Math.clz32(x & -x);

/** Per-column XOR state. */
interface ColumnState {
  hi: number;
  lo: number;
  leading: number;
  trailing: number;
}

/** Writes an integer in [-2^63, 2^63) (exact up to 2^53) as 64 bits, two's complement. */
export function writeSigned64(w: BitWriter, v: number): void {
  const hi = Math.floor(v / 2 ** 32);
  w.writeBits(hi >>> 0, 32);
  w.writeBits((v - hi * 2 ** 32) >>> 0, 32);
}

export function readSigned64(r: BitReader): number {
  const hi = r.readBits(32) | 0;
  return hi * 2 ** 32 + r.readBits(32);
}

/** Writes a timestamp's delta of deltas D in the buckets described above. */
export function writeTimeDod(w: BitWriter, d: number): void {
  if (d === 0) w.writeBit(0);
  else if (d >= -63 && d <= 64) w.writeBits((0b10 << 7) | (d + 63), 9);
  else if (d >= -511 && d <= 512) w.writeBits((0b110 << 10) | (d + 511), 13);
  else if (d >= -16383 && d <= 16384) w.writeBits((0b1110 << 15) | (d + 16383), 19);
  else {
    w.writeBits(0b1111, 4);
    writeSigned64(w, d);
  }
}

/** Reads what writeTimeDod wrote. */
export function readTimeDod(r: BitReader): number {
  const ones = r.readPrefix(4);
  return ones === 0
    ? 0
    : ones === 1
      ? r.readBits(7) - 63
      : ones === 2
        ? r.readBits(10) - 511
        : ones === 3
          ? r.readBits(15) - 16383
          : readSigned64(r);
}

/** Appends points (timestamp + one value per column) to one compressed stream. */
/**
 * How values are coded: 'xor' (Gorilla, any float64), or for integer-valued data (after scaling by
 * a power of ten) 'delta' (each value minus the previous) or 'dod' (the delta minus the previous
 * delta), both as bucketed integers: 0 -> '0'; [-31, 32] -> '10' + 6 bits; [-2047, 2048] -> '110'
 * + 12 bits; [-524287, 524288] -> '1110' + 20 bits; otherwise '1111' + 64 bits.
 */
export type ValueMode = 'xor' | 'delta' | 'dod';

/** Integers of the integer modes stay under this, so deltas of deltas stay exact in a float64. */
export const MAX_INT_VALUE = 2 ** 50;

export function writeInt(w: BitWriter, d: number): void {
  if (d === 0) w.writeBit(0);
  else if (d >= -31 && d <= 32) w.writeBits((0b10 << 6) | (d + 31), 8);
  else if (d >= -2047 && d <= 2048) w.writeBits((0b110 << 12) | (d + 2047), 15);
  else if (d >= -524287 && d <= 524288) w.writeBits((0b1110 << 20) | (d + 524287), 24);
  else {
    w.writeBits(0b1111, 4);
    writeSigned64(w, d);
  }
}

export function readInt(r: BitReader): number {
  switch (r.readPrefix(4)) {
    case 0:
      return 0;
    case 1:
      return r.readBits(6) - 31;
    case 2:
      return r.readBits(12) - 2047;
    case 3:
      return r.readBits(20) - 524287;
    default:
      return readSigned64(r);
  }
}

export class GorillaEncoder {
  readonly columns: number;
  readonly mode: ValueMode;
  readonly scale: number;
  #prevX = 0;
  #prevD = 0;
  readonly #w: BitWriter;
  readonly #cols: ColumnState[];
  #count = 0;
  #prevT = 0;
  #prevDelta = NOMINAL_DELTA_MS;

  /**
   * `mode` and `scale` (values are multiplied by it to become integers) apply to one column only;
   * the caller guarantees the integer modes' values are exact (see sealChunk).
   */
  constructor(columns = 1, initialBytes = 64, mode: ValueMode = 'xor', scale = 1) {
    this.columns = columns;
    this.mode = mode;
    this.scale = scale;
    this.#w = new BitWriter(initialBytes);
    this.#cols = Array.from({ length: columns }, () => ({ hi: 0, lo: 0, leading: -1, trailing: 0 }));
  }

  get count(): number {
    return this.#count;
  }
  get lastTimestamp(): number {
    return this.#prevT;
  }
  get bitLength(): number {
    return this.#w.bitLength;
  }

  /**
   * Appends a point with one value (column 0). Timestamps must be integers in [0, 2^53) and
   * increase strictly; the caller checks (the store rejects the rest before they get here).
   */
  append(t: number, v: number): void {
    this.#time(t);
    if (this.mode === 'xor') this.#value(this.#cols[0]!, v);
    else this.#int(Math.round(v * this.scale));
    this.#count++;
  }

  #int(x: number): void {
    if (this.#count === 0) {
      writeSigned64(this.#w, x);
    } else {
      const d = x - this.#prevX;
      writeInt(this.#w, this.mode === 'delta' ? d : d - this.#prevD);
      this.#prevD = d;
    }
    this.#prevX = x;
  }

  /** Appends a point with `columns` values: vs[0..columns). */
  appendRow(t: number, vs: ArrayLike<number>): void {
    this.#time(t);
    for (let c = 0; c < this.columns; c++) this.#value(this.#cols[c]!, vs[c]!);
    this.#count++;
  }

  /** The stream so far (a copy); decode with `count` and `columns`. */
  bytes(): Uint8Array {
    return this.#w.bytes();
  }

  #time(t: number): void {
    const w = this.#w;
    if (this.#count === 0) {
      writeSigned64(w, t);
      this.#prevT = t;
      return;
    }
    const delta = t - this.#prevT;
    writeTimeDod(w, delta - this.#prevDelta);
    this.#prevDelta = delta;
    this.#prevT = t;
  }

  #value(s: ColumnState, v: number): void {
    const w = this.#w;
    f64[0] = v;
    const hi = u32[HI]!;
    const lo = u32[LO]!;
    if (this.#count === 0) {
      w.writeBits(hi, 32);
      w.writeBits(lo, 32);
      s.hi = hi;
      s.lo = lo;
      return;
    }
    const xh = (hi ^ s.hi) >>> 0;
    const xl = (lo ^ s.lo) >>> 0;
    s.hi = hi;
    s.lo = lo;
    if (xh === 0 && xl === 0) {
      w.writeBit(0);
      return;
    }
    let leading = xh !== 0 ? Math.clz32(xh) : 32 + Math.clz32(xl);
    const trailing = xl !== 0 ? ctz32(xl) : 32 + ctz32(xh);
    if (leading > 31) leading = 31;
    let lead: number;
    let trail: number;
    if (s.leading >= 0 && leading >= s.leading && trailing >= s.trailing) {
      w.writeBits(0b10, 2);
      lead = s.leading;
      trail = s.trailing;
    } else {
      const sig = 64 - leading - trailing;
      w.writeBits((0b11 << 11) | (leading << 6) | (sig & 63), 13);
      s.leading = lead = leading;
      s.trailing = trail = trailing;
    }
    // The meaningful bits: xor >>> trail, (64 - lead - trail) of them.
    let sh: number;
    let sl: number;
    if (trail === 0) {
      sh = xh;
      sl = xl;
    } else if (trail < 32) {
      sl = ((xl >>> trail) | (xh << (32 - trail))) >>> 0;
      sh = xh >>> trail;
    } else {
      sl = xh >>> (trail - 32);
      sh = 0;
    }
    w.writeBits64(sh, sl, 64 - lead - trail);
  }
}

/**
 * Decodes `count` points of a stream with `columns` value columns into `ts` and `vals` (column c of
 * point i at vals[i * columns + c]); the arrays must hold them. Returns false when the stream was
 * too short (corrupt or truncated).
 */
export function decodeInto(
  bytes: Uint8Array,
  count: number,
  columns: number,
  ts: Float64Array,
  vals: Float64Array,
  mode: ValueMode = 'xor',
  scale = 1,
): boolean {
  if (count === 0) return true;
  const r = new BitReader(bytes);
  let x = 0;
  let dx = 0;
  const his = new Uint32Array(columns);
  const los = new Uint32Array(columns);
  const leads = new Int32Array(columns);
  const trails = new Int32Array(columns);
  let t = readSigned64(r);
  let delta = NOMINAL_DELTA_MS;
  for (let i = 0; i < count; i++) {
    if (i > 0) {
      // The prefix is '0', '10', '110', '1110' or '1111': count the leading ones (at most 4).
      const ones = r.readPrefix(4);
      const d =
        ones === 0
          ? 0
          : ones === 1
            ? r.readBits(7) - 63
            : ones === 2
              ? r.readBits(10) - 511
              : ones === 3
                ? r.readBits(15) - 16383
                : readSigned64(r);
      delta += d;
      t += delta;
    }
    ts[i] = t;
    if (mode !== 'xor') {
      if (i === 0) x = readSigned64(r);
      else {
        const d = readInt(r);
        dx = mode === 'delta' ? d : dx + d;
        x += dx;
      }
      vals[i] = x / scale;
      continue;
    }
    for (let c = 0; c < columns; c++) {
      if (i === 0) {
        his[c] = r.readBits(32);
        los[c] = r.readBits(32);
      } else if (r.readBit() === 1) {
        let lead: number;
        let trail: number;
        if (r.readBit() === 0) {
          lead = leads[c]!;
          trail = trails[c]!;
        } else {
          lead = r.readBits(5);
          const sig = r.readBits(6) || 64;
          trail = 64 - lead - sig;
          leads[c] = lead;
          trails[c] = trail;
        }
        r.readBits64(64 - lead - trail);
        const sh = r.hi;
        const sl = r.lo;
        let xh: number;
        let xl: number;
        if (trail === 0) {
          xh = sh;
          xl = sl;
        } else if (trail < 32) {
          xh = (sh << trail) | (sl >>> (32 - trail));
          xl = sl << trail;
        } else {
          xh = sl << (trail - 32);
          xl = 0;
        }
        his[c] = his[c]! ^ xh;
        los[c] = los[c]! ^ xl;
      }
      u32[HI] = his[c]!;
      u32[LO] = los[c]!;
      vals[i * columns + c] = f64[0]!;
    }
  }
  return !r.overrun;
}

/** Decodes a stream into fresh arrays (tests and tools; the query path reuses buffers). */
export function decode(
  bytes: Uint8Array,
  count: number,
  columns = 1,
): { ts: Float64Array; vals: Float64Array; ok: boolean } {
  const ts = new Float64Array(count);
  const vals = new Float64Array(count * columns);
  const ok = decodeInto(bytes, count, columns, ts, vals);
  return { ts, vals, ok };
}

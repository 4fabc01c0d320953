/**
 * Bit-level writer and reader over a Uint8Array, most significant bit first. Values are passed as
 * unsigned 32-bit numbers (at most 32 bits per call); 64-bit quantities go as two halves.
 */

/** Appends bits to a buffer that grows by doubling; `bytes()` is a copy of what was written. */
export class BitWriter {
  #buf: Uint8Array;
  /** Index of the byte being filled. */
  #byte = 0;
  /** Bits already used in the byte being filled (0..7). */
  #bit = 0;

  constructor(initialBytes = 64) {
    this.#buf = new Uint8Array(Math.max(8, initialBytes));
  }

  /** Number of bits written so far. */
  get bitLength(): number {
    return this.#byte * 8 + this.#bit;
  }

  /** Writes one bit (0 or 1). */
  writeBit(b: number): void {
    if (b !== 0) this.#buf[this.#byte]! |= 0x80 >>> this.#bit;
    if (++this.#bit === 8) this.#nextByte();
  }

  /** Writes the low `n` bits of `v` (0 <= n <= 32, v < 2^n), most significant first. */
  writeBits(v: number, n: number): void {
    while (n > 0) {
      const free = 8 - this.#bit;
      const take = n < free ? n : free;
      n -= take;
      const chunk = (v >>> n) & ((1 << take) - 1);
      this.#buf[this.#byte]! |= chunk << (free - take);
      this.#bit += take;
      if (this.#bit === 8) this.#nextByte();
    }
  }

  /** Writes the low `n` bits (0..64) of the 64-bit value hi:lo. */
  writeBits64(hi: number, lo: number, n: number): void {
    if (n > 32) {
      this.writeBits(hi, n - 32);
      this.writeBits(lo, 32);
    } else {
      this.writeBits(lo, n);
    }
  }

  /** The written bits, zero-padded to a whole byte (a copy). */
  bytes(): Uint8Array {
    return this.#buf.slice(0, this.#byte + (this.#bit > 0 ? 1 : 0));
  }

  #nextByte(): void {
    this.#bit = 0;
    if (++this.#byte === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
  }
}

/**
 * Reads bits written by BitWriter. Reading past the end yields zero bits and sets `overrun`.
 * Reads take up to 32 bits at once from a big-endian word at the byte under the position (a query
 * decodes millions of points through here: one load and two shifts per read, no loop per byte).
 */
export class BitReader {
  readonly #buf: Uint8Array;
  readonly #bits: number;
  #pos = 0;
  /** Set once a read went past the end of the buffer (a truncated or corrupt stream). */
  overrun = false;
  /** Scratch for readBits64: the high and low halves of the last 64-bit read. */
  hi = 0;
  lo = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#bits = buf.length * 8;
  }

  readBit(): number {
    const pos = this.#pos;
    if (pos >= this.#bits) {
      this.overrun = true;
      return 0;
    }
    this.#pos = pos + 1;
    return (this.#buf[pos >>> 3]! >>> (7 - (pos & 7))) & 1;
  }

  /** Reads `n` bits (0..32) as an unsigned number. */
  readBits(n: number): number {
    if (n <= 0) return 0;
    const pos = this.#pos;
    const end = pos + n;
    if (end > this.#bits) this.overrun = true;
    this.#pos = end;
    if ((pos & 7) + n <= 32) return this.#take(pos, n);
    // More than the word under the position holds: the high n - 16 bits, then the low 16.
    return this.#take(pos, n - 16) * 65536 + this.#take(pos + n - 16, 16);
  }

  /**
   * Reads a prefix of ones ended by a zero, at most `max` (1..8) ones (the zero is not read then):
   * the bucket prefixes '0', '10', '110', '1110', '1111'. Returns the number of ones.
   */
  readPrefix(max: number): number {
    const pos = this.#pos;
    const ones = Math.min(max, Math.clz32(~(this.#take(pos, max) << (32 - max))));
    const end = pos + (ones < max ? ones + 1 : max);
    if (end > this.#bits) this.overrun = true;
    this.#pos = end;
    return ones;
  }

  /**
   * Reads `n` values of `width` bits each (1..25) into out[at..at + n): the bit-packed miniblocks
   * of packed-chunk.ts, in one loop without a call per value.
   */
  readRun(width: number, n: number, out: Float64Array, at: number): void {
    let pos = this.#pos;
    const end = pos + width * n;
    if (end > this.#bits) this.overrun = true;
    const b = this.#buf;
    // Words read whole while 4 bytes remain under the position; the rest through #take.
    const fast = (b.length - 4) * 8;
    const shift = 32 - width;
    for (let k = 0; k < n; k++, pos += width) {
      if (pos >= fast) {
        out[at + k] = this.#take(pos, width);
        continue;
      }
      const i = pos >>> 3;
      const w = (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!;
      out[at + k] = (w << (pos & 7)) >>> shift;
    }
    this.#pos = end;
  }

  /** Reads `n` bits (0..64) into `hi` and `lo` (unsigned halves). */
  readBits64(n: number): void {
    if (n > 32) {
      this.hi = this.readBits(n - 32);
      this.lo = this.readBits(32);
    } else {
      this.hi = 0;
      this.lo = this.readBits(n);
    }
  }

  /** `n` bits (1..32, with (pos & 7) + n <= 32) from bit `pos`; bytes past the end read as zeros. */
  #take(pos: number, n: number): number {
    const b = this.#buf;
    const i = pos >>> 3;
    const w =
      i + 3 < b.length
        ? (b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!
        : ((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0);
    return (w << (pos & 7)) >>> (32 - n);
  }
}

/**
 * Roll-up arithmetic. A bucket keeps min, max, sum and count of the finite-or-infinite values in
 * it (NaN, e.g. a staleness marker, is left out), so averages (sum / count) and extremes stay true
 * when buckets are merged into bigger ones: min of mins, max of maxes, sum of sums, sum of counts.
 */
import { GorillaEncoder } from './gorilla.ts';

export const ROLLUP_COLUMNS = 4;

/** Accumulates points or buckets into aligned buckets of `resolution`, in time order. */
export class BucketBuilder {
  readonly #resolution: number;
  readonly #enc = new GorillaEncoder(ROLLUP_COLUMNS, 64);
  readonly #row = new Float64Array(ROLLUP_COLUMNS);
  #bucket = -1;

  constructor(resolution: number) {
    this.#resolution = resolution;
  }

  /** Adds a raw point. */
  point(t: number, v: number): void {
    if (v !== v) return;
    this.bucket(t, v, v, v, 1);
  }

  /** Adds a bucket (or a point: min = max = sum = v, count = 1). Times must not go backwards. */
  bucket(t: number, min: number, max: number, sum: number, count: number): void {
    if (count === 0) return;
    const b = t - (((t % this.#resolution) + this.#resolution) % this.#resolution);
    const row = this.#row;
    if (b !== this.#bucket) {
      this.#emit();
      this.#bucket = b;
      row[0] = min;
      row[1] = max;
      row[2] = sum;
      row[3] = count;
      return;
    }
    if (min < row[0]!) row[0] = min;
    if (max > row[1]!) row[1] = max;
    row[2] = row[2]! + sum;
    row[3] = row[3]! + count;
  }

  /** The encoded buckets (call once, at the end). */
  finish(): { count: number; bytes: Uint8Array } {
    this.#emit();
    this.#bucket = -1;
    return { count: this.#enc.count, bytes: this.#enc.bytes() };
  }

  #emit(): void {
    if (this.#bucket >= 0) this.#enc.appendRow(this.#bucket, this.#row);
  }
}

/**
 * Per-step accumulator of one series in a query (see query.ts for the semantics): min, max, sum and
 * count of each step's points, or, for a rate, the sum of the increases attributed to each step.
 * `point` and `bucket` take one point or roll-up bucket at a time (the reader's Visitor); `run`
 * takes a run of decoded points from typed arrays in one tight loop, with the same operations in the
 * same order as calling `point` on each, so results are identical to the bit. Built without
 * `extremes`, min and max are not kept (empty arrays): for queries whose `over` is avg, sum or count.
 */
import type { DecodedSeries } from './decoded-cache.ts';
import type { Visitor } from './series-reader.ts';

export type Over = 'avg' | 'min' | 'max' | 'sum' | 'count';

export class StepAccumulator implements Visitor {
  readonly first: number;
  readonly step: number;
  readonly n: number;
  readonly min: Float64Array;
  readonly max: Float64Array;
  readonly sum: Float64Array;
  readonly count: Float64Array;
  readonly #rate: boolean;
  /** Whether min and max are kept (a query whose `over` is avg, sum or count does not read them). */
  readonly #extremes: boolean;
  #prev = NaN;
  /** With rate: the first and last point seen (a partial result's edges, to stitch replicas). */
  firstT = NaN;
  firstV = NaN;
  lastT = NaN;

  constructor(start: number, end: number, step: number, rate: boolean, extremes = true) {
    this.first = Math.ceil(start / step) * step;
    this.step = step;
    this.n = Math.max(0, Math.ceil((end - this.first) / step));
    const n = this.n;
    // One allocation; without extremes, min and max are empty (a query's memory is mostly these).
    const m = extremes ? n : 0;
    const buf = new Float64Array(2 * n + 2 * m);
    this.sum = buf.subarray(0, n);
    this.count = buf.subarray(n, 2 * n);
    this.min = buf.subarray(2 * n, 2 * n + m).fill(Infinity);
    this.max = buf.subarray(2 * n + m).fill(-Infinity);
    this.#rate = rate;
    this.#extremes = extremes;
  }

  point(t: number, v: number): void {
    if (v !== v) return;
    const i = Math.floor((t - this.first) / this.step);
    if (this.#rate) {
      const prev = this.#prev;
      this.#prev = v;
      if (this.firstT !== this.firstT) {
        this.firstT = t;
        this.firstV = v;
      }
      this.lastT = t;
      if (i < 0 || i >= this.n || prev !== prev) return;
      this.sum[i] = this.sum[i]! + (v >= prev ? v - prev : v);
      this.count[i] = this.count[i]! + 1;
      return;
    }
    if (i < 0 || i >= this.n) return;
    if (this.#extremes) {
      if (v < this.min[i]!) this.min[i] = v;
      if (v > this.max[i]!) this.max[i] = v;
    }
    this.sum[i] = this.sum[i]! + v;
    this.count[i] = this.count[i]! + 1;
  }

  /** Points lo..hi-1 of a decoded series, as `point` on each in order would take them. */
  run(d: DecodedSeries, lo: number, hi: number): void {
    if (this.#rate) this.#runRate(d, lo, hi);
    else if (d.ts === null && d.dt > 0) this.#runRegular(d, lo, hi);
    else this.#runPoints(d, lo, hi);
  }

  #runPoints(d: DecodedSeries, lo: number, hi: number): void {
    const { ts, t0, dt, vals } = d;
    const { first, step, n, min, max, sum, count } = this;
    const extremes = this.#extremes;
    for (let k = lo; k < hi; k++) {
      const v = vals[k]!;
      if (v !== v) continue;
      const t = ts === null ? t0 + k * dt : ts[k]!;
      const i = Math.floor((t - first) / step);
      if (i < 0 || i >= n) continue;
      if (extremes) {
        if (v < min[i]!) min[i] = v;
        if (v > max[i]!) max[i] = v;
      }
      sum[i] = sum[i]! + v;
      count[i] = count[i]! + 1;
    }
  }

  /**
   * Regular timestamps (t = t0 + k * dt): the points of each step are one index range, computed,
   * so the inner loop only folds values.
   */
  #runRegular(d: DecodedSeries, lo: number, hi: number): void {
    const { t0, dt, vals } = d;
    const { first, step, n, min, max, sum, count } = this;
    const extremes = this.#extremes;
    let k = lo;
    while (k < hi) {
      const i = Math.floor((t0 + k * dt - first) / step);
      // The first index past step i: the smallest k' with t0 + k' * dt >= first + (i + 1) * step.
      const next = Math.min(hi, Math.max(k + 1, Math.ceil((first + (i + 1) * step - t0) / dt)));
      if (i < 0 || i >= n) {
        k = next;
        continue;
      }
      let s = sum[i]!;
      let c = count[i]!;
      if (!extremes) {
        for (; k < next; k++) {
          const v = vals[k]!;
          if (v !== v) continue;
          s = s + v;
          c = c + 1;
        }
        sum[i] = s;
        count[i] = c;
        continue;
      }
      let mn = min[i]!;
      let mx = max[i]!;
      for (; k < next; k++) {
        const v = vals[k]!;
        if (v !== v) continue;
        if (v < mn) mn = v;
        if (v > mx) mx = v;
        s = s + v;
        c = c + 1;
      }
      min[i] = mn;
      max[i] = mx;
      sum[i] = s;
      count[i] = c;
    }
  }

  #runRate(d: DecodedSeries, lo: number, hi: number): void {
    const { ts, t0, dt, vals } = d;
    const { first, step, n, sum, count } = this;
    let prev = this.#prev;
    let k = lo;
    // The first point that counts (NaN is skipped) sets the edges' first point.
    if (this.firstT !== this.firstT) {
      while (k < hi && vals[k] !== vals[k]) k++;
      if (k === hi) return;
      this.firstT = ts === null ? t0 + k * dt : ts[k]!;
      this.firstV = vals[k]!;
    }
    let lastK = -1;
    for (; k < hi; k++) {
      const v = vals[k]!;
      if (v !== v) continue;
      lastK = k;
      const t = ts === null ? t0 + k * dt : ts[k]!;
      const i = Math.floor((t - first) / step);
      const p = prev;
      prev = v;
      if (i < 0 || i >= n || p !== p) continue;
      sum[i] = sum[i]! + (v >= p ? v - p : v);
      count[i] = count[i]! + 1;
    }
    this.#prev = prev;
    if (lastK >= 0) this.lastT = ts === null ? t0 + lastK * dt : ts[lastK]!;
  }

  /** Each step's value (NaN where no data) into `out` (length n), as `value` gives it. */
  values(over: Over, out: Float64Array): void {
    const { n, min, max, sum, count } = this;
    if (this.#rate) {
      const per = this.step / 1000;
      for (let i = 0; i < n; i++) out[i] = count[i] === 0 ? NaN : sum[i]! / per;
      return;
    }
    const src = over === 'min' ? min : over === 'max' ? max : over === 'sum' ? sum : count;
    for (let i = 0; i < n; i++) {
      const c = count[i]!;
      out[i] = c === 0 ? NaN : over === 'avg' ? sum[i]! / c : src[i]!;
    }
  }

  bucket(t: number, _resolution: number, min: number, max: number, sum: number, count: number): void {
    if (this.#rate) {
      this.point(t, max);
      return;
    }
    const i = Math.floor((t - this.first) / this.step);
    if (i < 0 || i >= this.n || count === 0) return;
    if (this.#extremes) {
      if (min < this.min[i]!) this.min[i] = min;
      if (max > this.max[i]!) this.max[i] = max;
    }
    this.sum[i] = this.sum[i]! + sum;
    this.count[i] = this.count[i]! + count;
  }

  /** With rate: the last value seen (NaN before any). */
  get lastV(): number {
    return this.#prev;
  }

  /** Whether this accumulates a rate. */
  get rate(): boolean {
    return this.#rate;
  }

  /** The series' value at step i (NaN when it had no data there). */
  value(i: number, over: Over): number {
    const c = this.count[i]!;
    if (c === 0) return NaN;
    if (this.#rate) return this.sum[i]! / (this.step / 1000);
    switch (over) {
      case 'avg':
        return this.sum[i]! / c;
      case 'min':
        return this.min[i]!;
      case 'max':
        return this.max[i]!;
      case 'sum':
        return this.sum[i]!;
      case 'count':
        return c;
    }
  }
}

/**
 * A horizon chart on a canvas (after Cubism): a series folded into `bands` layers of `bandHeight`
 * pixels, each higher band darker, positives in one hue rising from the bottom, negatives in another
 * hanging from the top; one pixel per step. `append` shifts the drawing one pixel left and draws the
 * newest column only (no full redraw).
 */

import type { HorizonSeries } from './chart-types.ts';

export type { HorizonSeries };

export interface HorizonOptions {
  bands: number;
  bandHeight: number;
  /** The value that fills every band (default: the largest absolute value of the data). */
  extent?: number;
  /** Colours for bands 1..n, lightest first (default: a green ramp for positives, blue for negatives). */
  positive?: string[];
  negative?: string[];
}

/** `n` colours from light to dark of one hue (HSL), for bands 1..n. */
export function bandColors(n: number, hue: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const light = n === 1 ? 45 : Math.round(80 - (i * 55) / (n - 1));
    return `hsl(${hue} 65% ${light}%)`;
  });
}

export const POSITIVE_HUE = 140;
export const NEGATIVE_HUE = 215;

export class HorizonChart {
  readonly canvas: HTMLCanvasElement;
  readonly #ctx: CanvasRenderingContext2D;
  readonly #o: Required<Omit<HorizonOptions, 'extent'>> & { extent: number | undefined };
  #series: HorizonSeries = { start: 0, step: 60_000, values: [] };
  #extent = 1;

  constructor(canvas: HTMLCanvasElement, options: HorizonOptions) {
    const ctx = canvas.getContext('2d');
    if (ctx === null) throw new Error('no 2d canvas context');
    this.canvas = canvas;
    this.#ctx = ctx;
    this.#o = {
      bands: options.bands,
      bandHeight: options.bandHeight,
      extent: options.extent,
      positive: options.positive ?? bandColors(options.bands, POSITIVE_HUE),
      negative: options.negative ?? bandColors(options.bands, NEGATIVE_HUE),
    };
    canvas.height = options.bandHeight;
  }

  get series(): HorizonSeries {
    return this.#series;
  }

  get extent(): number {
    return this.#extent;
  }

  /** Replaces the data and draws it all: the canvas is one pixel wide per value. */
  setData(series: HorizonSeries): void {
    this.#series = { ...series, values: [...series.values] };
    let max = 0;
    for (const v of series.values) if (v !== null && Math.abs(v) > max) max = Math.abs(v);
    this.#extent = this.#o.extent ?? (max > 0 ? max : 1);
    if (this.canvas.width !== series.values.length) this.canvas.width = Math.max(1, series.values.length);
    this.#clear(0, this.canvas.width);
    for (let b = 0; b < this.#o.bands; b++) {
      this.#ctx.fillStyle = this.#o.positive[b] ?? 'black';
      for (let x = 0; x < series.values.length; x++) this.#bandRect(x, series.values[x] ?? null, b, 1);
      this.#ctx.fillStyle = this.#o.negative[b] ?? 'black';
      for (let x = 0; x < series.values.length; x++) this.#bandRect(x, series.values[x] ?? null, b, -1);
    }
  }

  /** Adds the next step's value: the picture moves one pixel left and only the new column is drawn. */
  append(value: number | null): void {
    const s = this.#series;
    s.values.push(value);
    s.values.shift();
    s.start += s.step;
    const x = this.canvas.width - 1;
    // 'copy': the shifted picture replaces the old one (drawn over it, old pixels would show through).
    this.#ctx.globalCompositeOperation = 'copy';
    this.#ctx.drawImage(this.canvas, -1, 0);
    this.#ctx.globalCompositeOperation = 'source-over';
    this.#clear(x, 1);
    for (let b = 0; b < this.#o.bands; b++) {
      this.#ctx.fillStyle = this.#o.positive[b] ?? 'black';
      this.#bandRect(x, value, b, 1);
      this.#ctx.fillStyle = this.#o.negative[b] ?? 'black';
      this.#bandRect(x, value, b, -1);
    }
  }

  /** The value drawn at pixel x (undefined outside the data), and its time. */
  at(x: number): { time: number; value: number | null } | undefined {
    const i = Math.floor(x);
    if (i < 0 || i >= this.#series.values.length) return undefined;
    return { time: this.#series.start + i * this.#series.step, value: this.#series.values[i] ?? null };
  }

  /** The newest value drawn (the last step that has one), or undefined when there is none. */
  latest(): number | undefined {
    const v = this.#series.values;
    for (let i = v.length - 1; i >= 0; i--) {
      const x = v[i];
      if (x !== null && x !== undefined) return x;
    }
    return undefined;
  }

  /** How many bands a value fills (partly or wholly): what its darkest colour says. */
  bandsFor(value: number): number {
    return Math.min(this.#o.bands, Math.ceil((Math.abs(value) / this.#extent) * this.#o.bands - 1e-9));
  }

  #clear(x: number, w: number): void {
    this.#ctx.clearRect(x, 0, w, this.#o.bandHeight);
  }

  /** Band b's part of column x: the value's height above b bands, at most one band, signed by `sign`. */
  #bandRect(x: number, value: number | null, b: number, sign: 1 | -1): void {
    if (value === null || value * sign <= 0) return;
    const h = this.#o.bandHeight;
    const scaled = (Math.abs(value) / this.#extent) * this.#o.bands * h;
    const part = Math.min(h, scaled - b * h);
    if (part <= 0) return;
    const px = Math.max(1, Math.round(part));
    if (sign === 1) this.#ctx.fillRect(x, h - px, 1, px);
    else this.#ctx.fillRect(x, 0, 1, px);
  }
}

/**
 * Where things are in a store's directory, and the time constants of its tiers.
 *
 *   series.jsonl                  the series index (series-index.ts)
 *   head/<window>-<seq>.log       head log of an open 2 h window (head-log.ts)
 *   raw/<window>-<seq>.blk        sealed raw points of a 2 h window (block-file.ts, 1 column)
 *   5m/<day>.blk                  5-minute roll-ups of one UTC day (4 columns: min, max, sum, count)
 *   1h/<period>.blk               hourly roll-ups of one 30-day period (same columns)
 * Times in names are ms since the epoch of the range's start.
 */
import { join } from 'node:path';

export const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
/** Raw points are sealed into one block per aligned 2-hour window, as in Gorilla and Prometheus. */
export const WINDOW_MS = 2 * HOUR_MS;
export const FIVE_MIN_MS = 5 * MINUTE_MS;
/** Hourly roll-ups are grouped in files of 30 days (aligned to the epoch). */
export const PERIOD_MS = 30 * DAY_MS;

export type Tier = 'raw' | '5m' | '1h';
export const TIERS: readonly Tier[] = ['raw', '5m', '1h'];
export const TIER_RESOLUTION: Record<Tier, number> = { raw: 0, '5m': FIVE_MIN_MS, '1h': HOUR_MS };
/** Range one file of the tier covers. */
export const TIER_SPAN: Record<Tier, number> = { raw: WINDOW_MS, '5m': DAY_MS, '1h': PERIOD_MS };

export const floorTo = (t: number, unit: number): number => t - (((t % unit) + unit) % unit);

export function blockPath(dir: string, tier: Tier, start: number, seq = 0): string {
  return join(dir, tier, tier === 'raw' ? `${start}-${seq}.blk` : `${start}.blk`);
}

/** Parses a block file name of a tier: its range start and seq, or null for other files. */
export function parseBlockName(tier: Tier, file: string): { start: number; seq: number } | null {
  const m = (tier === 'raw' ? /^(\d+)-(\d+)\.blk$/ : /^(\d+)\.blk$/).exec(file);
  return m === null ? null : { start: Number(m[1]), seq: Number(m[2] ?? 0) };
}

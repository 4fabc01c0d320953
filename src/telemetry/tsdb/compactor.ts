/**
 * The roll-up pass: raw blocks of a UTC day older than the raw retention become one 5-minute
 * block; 5-minute blocks of a 30-day period older than the 5-minute retention become one hourly
 * block. Nothing is ever deleted except sources whose roll-up is durable. Each step writes the
 * new file (temp, fsync, rename, fsync dir) and only then deletes its sources, so a crash at any
 * point leaves either the sources or the roll-up (plus sources, removed on the next open or pass).
 * Running it again changes nothing: it is idempotent.
 */
import { existsSync } from 'node:fs';
import { writeBlock, type BlockSeries } from './block-file.ts';
import type { BlockSet, OpenBlock } from './block-set.ts';
import { blockPath, floorTo, TIER_RESOLUTION, TIER_SPAN, type Tier } from './layout.ts';
import { BucketBuilder, ROLLUP_COLUMNS } from './rollup.ts';
import { SeriesReader } from './series-reader.ts';

export interface Retention {
  /** Raw points are kept this long, then rolled into 5-minute buckets (default 14 days). */
  rawMs: number;
  /** 5-minute buckets are kept this long, then rolled into hourly ones (default 365 days). */
  fiveMinMs: number;
}

export interface CompactionResult {
  /** Roll-up files written. */
  written: number;
  /** Source files deleted. */
  removed: number;
}

/** Runs one pass at time `now`. */
export function compact(dir: string, blocks: BlockSet, retention: Retention, now: number): CompactionResult {
  const r = { written: 0, removed: 0 };
  step(dir, blocks, 'raw', '5m', now - retention.rawMs, r);
  step(dir, blocks, '5m', '1h', now - retention.fiveMinMs, r);
  return r;
}

/** Removes sources already covered by a roll-up (left by a crash between rename and delete). */
export function removeCovered(blocks: BlockSet): number {
  let n = 0;
  for (const [from, to] of [
    ['raw', '5m'],
    ['5m', '1h'],
  ] as const) {
    for (const target of blocks.list(to)) {
      const { start, end } = target.reader.meta;
      for (const b of blocks.overlapping(from, start, end)) {
        if (b.reader.meta.start >= start && b.reader.meta.end <= end) {
          blocks.remove(b);
          n++;
        }
      }
    }
  }
  return n;
}

function step(
  dir: string,
  blocks: BlockSet,
  from: Tier,
  to: Tier,
  before: number,
  r: CompactionResult,
): void {
  const span = TIER_SPAN[to];
  const groups = new Map<number, OpenBlock[]>();
  for (const b of blocks.list(from)) {
    const g = floorTo(b.reader.meta.start, span);
    if (g + span > before) continue;
    const list = groups.get(g);
    if (list === undefined) groups.set(g, [b]);
    else list.push(b);
  }
  for (const [g, sources] of [...groups].sort((a, b) => a[0] - b[0])) {
    const path = blockPath(dir, to, g);
    if (!existsSync(path)) {
      writeBlock(
        path,
        { columns: ROLLUP_COLUMNS, resolutionMs: TIER_RESOLUTION[to], start: g, end: g + span },
        rollUp(blocks, sources, from, to, g, g + span),
      );
      blocks.add(to, g, 0, path);
      r.written++;
    }
    for (const b of sources) {
      blocks.remove(b);
      r.removed++;
    }
  }
}

function rollUp(
  blocks: BlockSet,
  sources: OpenBlock[],
  from: Tier,
  to: Tier,
  start: number,
  end: number,
): BlockSeries[] {
  const ids = new Set<string>();
  for (const b of sources) for (const id of b.reader.ids()) ids.add(id);
  const reader = new SeriesReader(blocks);
  const out: BlockSeries[] = [];
  for (const id of [...ids].sort()) {
    const builder = new BucketBuilder(TIER_RESOLUTION[to]);
    reader.visit(
      id,
      -1,
      start,
      end,
      {
        point: (t, v) => builder.point(t, v),
        bucket: (t, _res, min, max, sum, count) => builder.bucket(t, min, max, sum, count),
      },
      [from],
    );
    const { count, bytes } = builder.finish();
    if (count > 0) out.push({ id, count, bytes });
  }
  return out;
}

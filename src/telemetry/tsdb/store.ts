/**
 * The time-series store: a directory holding the series index, the head log and the block files
 * of each tier (layout.ts). Synchronous by design: an append costs a few hundred nanoseconds, a
 * flush one write and one fdatasync per open window, a cut or roll-up writes one file.
 *
 * Durability: appends are buffered in memory; `flush()` writes new series to the index (fsync) and
 * then each open window's head log record (fdatasync). `run()` flushes every `flushIntervalMs`
 * (default 1 s), so a crash loses at most the points appended in the last second (or since the
 * caller's last flush()). A window is cut into a block `cutGraceMs` after it ends; the block is
 * written atomically and then the window's head log is deleted.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, systemClock, type Clock } from '../../lib/index.ts';
import { DabbaError } from '../../errors/index.ts';
import { BlockSet } from './block-set.ts';
import { writeBlock, type BlockReader, type BlockSeries } from './block-file.ts';
import { compact, removeCovered, type CompactionResult, type Retention } from './compactor.ts';
import { decode, GorillaEncoder } from './gorilla.ts';
import { Head, type ClosedChunk } from './head.ts';
import { headSegmentsOnDisk, HeadSegment } from './head-log.ts';
import type { Labels } from './labels.ts';
import { blockPath, DAY_MS, TIERS, WINDOW_MS, type Tier } from './layout.ts';
import { assemble, compileMatchers, StepAccumulator, type Query, type ResultSeries } from './query.ts';
import { toPartial, type PartialResult } from './partial.ts';
import { SeriesIndex, type SeriesInfo } from './series-index.ts';
import { SeriesReader } from './series-reader.ts';
import { decodeSealed, sealChunk } from './sealed-chunk.ts';
import { DecodedCache, decodeSeries, type DecodedSeries } from './decoded-cache.ts';

export interface TsdbOptions {
  /** The store's directory (created when missing), e.g. beside the control plane's data. */
  dir: string;
  clock?: Clock;
  retention?: Partial<Retention>;
  /** How long after a 2 h window ends its head is cut into a block (default 10 minutes). */
  cutGraceMs?: number;
  /** run(): flush period (default 1 s). */
  flushIntervalMs?: number;
  /** run(): how often cuts and roll-ups are checked (default 1 minute). */
  maintainIntervalMs?: number;
  /**
   * Bytes of decoded raw block streams kept in memory for queries (decoded-cache.ts; default
   * 128 MiB, 8 to 16 bytes per point; 0: none).
   */
  queryCacheBytes?: number;
}

export interface MaintenanceResult extends CompactionResult {
  /** Raw blocks cut from the head. */
  cut: number;
}

export const DEFAULT_QUERY_CACHE_BYTES = 128 * 1024 * 1024;
/** A query selecting at least this many series reads the raw blocks it touches whole (#bulkBlocks). */
const BULK_MIN_SERIES = 32;
const BULK_MAX_BYTES = 64 * 1024 * 1024;

export class TimeSeriesStore {
  readonly dir: string;
  readonly #clock: Clock;
  readonly #retention: Retention;
  readonly #grace: number;
  readonly #flushMs: number;
  readonly #maintainMs: number;
  readonly #index: SeriesIndex;
  readonly #blocks: BlockSet;
  readonly #head: Head;
  readonly #reader: SeriesReader;
  readonly #cache: DecodedCache;
  #closed = false;

  constructor(options: TsdbOptions) {
    this.dir = options.dir;
    this.#clock = options.clock ?? systemClock;
    this.#retention = {
      rawMs: options.retention?.rawMs ?? 14 * DAY_MS,
      fiveMinMs: options.retention?.fiveMinMs ?? 365 * DAY_MS,
    };
    this.#grace = options.cutGraceMs ?? 10 * 60_000;
    this.#flushMs = options.flushIntervalMs ?? 1000;
    this.#maintainMs = options.maintainIntervalMs ?? 60_000;
    const headDir = join(this.dir, 'head');
    mkdirSync(headDir, { recursive: true });
    this.#index = new SeriesIndex(this.dir);
    this.#blocks = new BlockSet(this.dir);
    removeCovered(this.#blocks);
    this.#head = new Head(headDir, (ref) => this.#lastStored(ref));
    this.#head.frozenBefore = this.#frozenBefore();
    for (const b of this.#blocks.list('raw')) this.#head.seenSeq(b.start, b.seq);
    this.#replay(headDir);
    this.#cache = new DecodedCache(options.queryCacheBytes ?? DEFAULT_QUERY_CACHE_BYTES);
    this.#reader = new SeriesReader(
      this.#blocks,
      this.#head,
      this.#cache.maxBytes > 0 ? this.#cache : undefined,
    );
  }

  /** The ref of a series (created when new; name and labels validated then). Cache it. */
  ref(name: string, labels: Labels = {}): number {
    return this.#index.ref(name, labels);
  }

  /** Appends one point; false when refused (out of order, duplicate, or older than the raw tier). */
  append(ref: number, t: number, v: number): boolean {
    if (ref >= this.#index.size) return false;
    return this.#head.append(ref, t, v);
  }

  /** Appends n points (refs[i], ts[i], vs[i]); returns how many were accepted. */
  appendBatch(
    refs: ArrayLike<number>,
    ts: ArrayLike<number>,
    vs: ArrayLike<number>,
    n = refs.length,
  ): number {
    let ok = 0;
    const size = this.#index.size;
    const head = this.#head;
    for (let i = 0; i < n; i++) {
      const ref = refs[i]!;
      if (ref < size && head.append(ref, ts[i]!, vs[i]!)) ok++;
    }
    return ok;
  }

  /** Makes every accepted point durable (index first, then head logs). */
  flush(): void {
    this.#index.flush();
    for (const seg of this.#head.segments.values()) seg.flush();
  }

  /** Cuts finished windows into blocks and runs the roll-up pass. Idempotent. */
  maintain(): MaintenanceResult {
    const now = this.#clock.now();
    this.flush();
    let cut = 0;
    for (const w of this.#head.windows()) {
      if (w + WINDOW_MS + this.#grace > now) continue;
      if (this.#cut(w)) cut++;
    }
    const r = compact(this.dir, this.#blocks, this.#retention, now);
    this.#head.frozenBefore = this.#frozenBefore();
    return { cut, ...r };
  }

  /**
   * Flushes every flushIntervalMs and maintains every maintainIntervalMs until the signal aborts,
   * then flushes once more. Errors are passed to onError (the loop keeps going). Meanwhile it warms
   * the query cache with the newest raw blocks (warmCache), one block per turn of the event loop.
   */
  async run(signal: AbortSignal, onError: (e: unknown) => void = () => {}): Promise<void> {
    let nextMaintain = 0;
    const warming = this.#cache.maxBytes > 0 ? this.warmCache(signal).then(() => {}, onError) : undefined;
    while (!signal.aborted) {
      try {
        if (this.#clock.now() >= nextMaintain) {
          this.maintain();
          nextMaintain = this.#clock.now() + this.#maintainMs;
        } else this.flush();
      } catch (e) {
        onError(e);
      }
      await sleep(this.#flushMs, signal);
    }
    await warming;
    if (!this.#closed) this.flush();
  }

  /**
   * Decodes raw blocks into the query cache, newest first, one block per turn of the event loop,
   * until the cache would pass `maxBytes` (default three quarters of its budget, where eviction
   * stops) or the blocks run out: after a restart, queries over recent data find them decoded
   * instead of paying the cold decode. run() starts it. Returns the blocks decoded.
   */
  async warmCache(signal?: AbortSignal, maxBytes = (this.#cache.maxBytes * 3) / 4): Promise<number> {
    const raw = [...this.#blocks.list('raw')].reverse();
    let n = 0;
    for (const b of raw) {
      if (this.#closed || signal?.aborted === true || this.#cache.bytes + b.reader.pointCount * 8 > maxBytes)
        break;
      // A roll-up during a pause may have removed the block.
      if (!this.#blocks.list('raw').includes(b)) continue;
      const r = b.reader;
      r.beginBulk();
      try {
        for (const id of [...r.ids()]) {
          this.#cache.get(r.serial, id, () => {
            const s = r.series(id)!;
            return decodeOrThrow({ id, ...s }, r.path);
          });
        }
      } finally {
        r.endBulk();
      }
      n++;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return n;
  }

  /** Runs a query (see query.ts). */
  query(q: Query): ResultSeries[] {
    const over = q.over ?? 'avg';
    return assemble(q, this.#select(q, over === 'min' || over === 'max'));
  }

  /** This store's share of a query, to be merged with other stores' (partial.ts). */
  partial(q: Query): PartialResult {
    return toPartial(q, this.#select(q, true));
  }

  /** The selected series, each accumulated per step (min and max only when `extremes`). */
  #select(q: Query, extremes: boolean): { info: SeriesInfo; acc: StepAccumulator }[] {
    const match = compileMatchers(q);
    const selected: { info: SeriesInfo; acc: StepAccumulator }[] = [];
    for (const ref of this.#index.refsOfName(q.name)) {
      const info = this.#index.get(ref)!;
      if (match(info)) {
        selected.push({ info, acc: new StepAccumulator(q.start, q.end, q.step, q.rate === true, extremes) });
      }
    }
    const bulk = selected.length >= BULK_MIN_SERIES ? this.#bulkBlocks(q.start, q.end) : [];
    try {
      for (const { info, acc } of selected) {
        this.#reader.visit(info.id, info.ref, acc.first, acc.first + acc.n * acc.step, acc);
      }
    } finally {
      for (const b of bulk) b.endBulk();
    }
    return selected;
  }

  /**
   * A query over many series reads each raw block it touches whole, once (BlockReader bulk mode),
   * up to BULK_MAX_BYTES of blocks per query; past that, one read per series as before.
   */
  #bulkBlocks(start: number, end: number): BlockReader[] {
    const out: BlockReader[] = [];
    let bytes = 0;
    for (const b of this.#blocks.overlapping('raw', start, end)) {
      bytes += b.reader.size;
      if (bytes > BULK_MAX_BYTES) break;
      b.reader.beginBulk();
      out.push(b.reader);
    }
    return out;
  }

  /**
   * The last point at or after `start` (and before `end`) of each series `match` selects (federation:
   * the latest sample of every matching series). Series without a point in the range are left out;
   * a roll-up bucket counts as its max at its start.
   */
  latest(
    match: (s: SeriesInfo) => boolean,
    start: number,
    end: number,
    names?: readonly string[],
  ): { info: SeriesInfo; t: number; v: number }[] {
    const out: { info: SeriesInfo; t: number; v: number }[] = [];
    const refs =
      names === undefined
        ? this.#index.all().map((s) => s.ref)
        : names.flatMap((n) => this.#index.refsOfName(n));
    for (const ref of refs) {
      const info = this.#index.get(ref)!;
      if (!match(info)) continue;
      const last = { t: NaN, v: NaN };
      this.#reader.visit(info.id, ref, start, end, {
        point(t, v) {
          last.t = t;
          last.v = v;
        },
        bucket(t, _r, _min, max) {
          last.t = t;
          last.v = max;
        },
      });
      if (last.t === last.t) out.push({ info, t: last.t, v: last.v });
    }
    return out;
  }

  /** Every series the index knows. */
  series(): readonly SeriesInfo[] {
    return this.#index.all();
  }

  /** Bytes and counts per tier (blocks on disk), plus points still in the head. */
  stats(): {
    bytes: Record<Tier, number>;
    blocks: Record<Tier, number>;
    stored: Record<Tier, number>;
    headPoints: number;
    queryCache: { bytes: number; hits: number; misses: number };
  } {
    const blocks = { raw: 0, '5m': 0, '1h': 0 };
    const stored = { raw: 0, '5m': 0, '1h': 0 };
    for (const t of TIERS) {
      for (const b of this.#blocks.list(t)) {
        blocks[t]++;
        stored[t] += b.reader.pointCount;
      }
    }
    const c = this.#cache;
    return {
      bytes: this.#blocks.bytes(),
      blocks,
      stored,
      headPoints: this.#head.pointCount,
      queryCache: { bytes: c.bytes, hits: c.hits, misses: c.misses },
    };
  }

  /** Flushes and closes files. The head stays in its log for the next open. */
  close(): void {
    if (this.#closed) return;
    this.flush();
    for (const seg of this.#head.segments.values()) seg.close();
    this.#index.close();
    this.#blocks.close();
    this.#cache.clear();
    this.#closed = true;
  }

  #cut(window: number): boolean {
    const { chunks, seq, segment } = this.#head.take(window);
    if (chunks.length > 0) {
      const path = blockPath(this.dir, 'raw', window, seq);
      const series = this.#merge(chunks);
      writeBlock(path, { columns: 1, resolutionMs: 0, start: window, end: window + WINDOW_MS }, series);
      const b = this.#blocks.add('raw', window, seq, path);
      // The newest points are the likeliest to be asked for: decode them into the cache now.
      if (this.#cache.maxBytes > 0) {
        for (const s of series) this.#cache.get(b.reader.serial, s.id, () => decodeOrThrow(s, path));
      }
    }
    segment?.remove();
    return chunks.length > 0;
  }

  /**
   * One sealed stream per series (sealed-chunk.ts): chunks of a series closed early
   * (MAX_CHUNK_POINTS) are joined first.
   */
  #merge(chunks: ClosedChunk[]): BlockSeries[] {
    const byRef = new Map<number, ClosedChunk[]>();
    for (const c of chunks) {
      const list = byRef.get(c.ref);
      if (list === undefined) byRef.set(c.ref, [c]);
      else list.push(c);
    }
    const out: BlockSeries[] = [];
    for (const [ref, list] of byRef) {
      const id = this.#index.get(ref)!.id;
      if (list.length === 1) {
        out.push({ id, count: list[0]!.count, bytes: sealChunk(list[0]!.bytes, list[0]!.count) });
        continue;
      }
      const enc = new GorillaEncoder(1, 1024);
      for (const c of list) {
        const d = decode(c.bytes, c.count);
        for (let i = 0; i < c.count; i++) enc.append(d.ts[i]!, d.vals[i]!);
      }
      out.push({ id, count: enc.count, bytes: sealChunk(enc.bytes(), enc.count) });
    }
    return out;
  }

  /** The last timestamp of a series in the raw blocks (-1 when it has none there). */
  #lastStored(ref: number): number {
    const info = this.#index.get(ref);
    if (info === undefined) return -1;
    const raw = this.#blocks.list('raw');
    let best = -1;
    for (let i = raw.length - 1; i >= 0; i--) {
      const b = raw[i]!;
      if (b.reader.meta.end <= best) break;
      const s = b.reader.series(info.id);
      if (s === undefined || s.count === 0) continue;
      const ts = new Float64Array(s.count);
      const vs = new Float64Array(s.count);
      if (decodeSealed(s.bytes, s.count, ts, vs)) best = Math.max(best, ts[s.count - 1]!);
    }
    return best;
  }

  #frozenBefore(): number {
    let t = 0;
    for (const tier of ['5m', '1h'] as const)
      for (const b of this.#blocks.list(tier)) t = Math.max(t, b.reader.meta.end);
    return t;
  }

  #replay(headDir: string): void {
    for (const { window, seq } of headSegmentsOnDisk(headDir)) {
      const seg = new HeadSegment(headDir, window, seq);
      if (this.#blocks.list('raw').some((b) => b.start === window && b.seq === seq)) {
        seg.remove(); // sealed before a crash; its block holds these points
        continue;
      }
      this.#head.adopt(seg);
      const size = this.#index.size;
      seg.replay((ref, t, v) => {
        if (ref < size) this.#head.append(ref, t, v, false);
      });
    }
  }
}

function decodeOrThrow(s: BlockSeries, where: string): DecodedSeries {
  const d = decodeSeries(s.bytes, s.count);
  if (d === null)
    throw new DabbaError('DABBA_E_STORE', `${where}: a series stream is shorter than its point count`);
  return d;
}

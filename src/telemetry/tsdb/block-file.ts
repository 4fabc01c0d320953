/**
 * Block files: the sealed, compressed points of every series for one time range.
 *
 *   offset 0   'DTSB' magic, u8 version (1), u8 columns (1 raw; 4 roll-up: min, max, sum, count),
 *              u16 reserved
 *          8   f64 resolution in ms (0 for raw points; 300000 or 3600000 for roll-ups)
 *         16   f64 range start (ms, inclusive), f64 range end (exclusive)
 *         32   u32 series count n, u32 crc32 of the directory
 *         40   directory: n x (8 bytes series id, u32 point count, u32 offset, u32 length, u32 crc32)
 *    40+24n   data: each series' stream at its offset: for raw points a sealed chunk
 *              (sealed-chunk.ts: a mode byte, a scale byte, then the bits); for roll-ups the
 *              4-column Gorilla XOR stream (gorilla.ts)
 * Little endian. Opening reads only the header and directory; a series' stream is read with one
 * pread and checked against its crc32. Files are written once (temp file, fsync, rename) and never
 * modified; compaction replaces them.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { DabbaError } from '../../errors/index.ts';
import { writeFileAtomic } from './durable-files.ts';

const MAGIC = 0x42535444; // 'DTSB' read as little-endian u32
const HEADER = 40;
const ENTRY = 24;

export interface BlockSeries {
  /** 16 hex digits (labels.ts seriesId). */
  id: string;
  count: number;
  bytes: Uint8Array;
}

export interface BlockMeta {
  columns: number;
  resolutionMs: number;
  start: number;
  end: number;
}

/** Writes a block atomically. Returns its size in bytes. */
export function writeBlock(path: string, meta: BlockMeta, series: readonly BlockSeries[]): number {
  const head = new Uint8Array(HEADER + ENTRY * series.length);
  const view = new DataView(head.buffer);
  view.setUint32(0, MAGIC, true);
  view.setUint8(4, 1);
  view.setUint8(5, meta.columns);
  view.setFloat64(8, meta.resolutionMs, true);
  view.setFloat64(16, meta.start, true);
  view.setFloat64(24, meta.end, true);
  view.setUint32(32, series.length, true);
  let offset = head.length;
  series.forEach((s, i) => {
    const e = HEADER + i * ENTRY;
    view.setUint32(e, parseInt(s.id.slice(0, 8), 16), true);
    view.setUint32(e + 4, parseInt(s.id.slice(8), 16), true);
    view.setUint32(e + 8, s.count, true);
    view.setUint32(e + 12, offset, true);
    view.setUint32(e + 16, s.bytes.length, true);
    view.setUint32(e + 20, crc32(s.bytes), true);
    offset += s.bytes.length;
  });
  view.setUint32(36, crc32(head.subarray(HEADER)), true);
  writeFileAtomic(path, [head, ...series.map((s) => s.bytes)]);
  return offset;
}

interface Entry {
  count: number;
  offset: number;
  length: number;
  crc: number;
}

let openedBlocks = 0;

/** An opened block: header and directory in memory, streams read on demand. */
export class BlockReader {
  readonly path: string;
  /** Unique in the process: names this opening of the block (caches key on it). */
  readonly serial = ++openedBlocks;
  readonly meta: BlockMeta;
  readonly #entries = new Map<string, Entry>();
  #fd: number;
  readonly size: number;

  constructor(path: string) {
    this.path = path;
    this.#fd = openSync(path, 'r');
    try {
      const h = this.#read(0, HEADER);
      const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
      if (h.length < HEADER || view.getUint32(0, true) !== MAGIC || view.getUint8(4) !== 1) {
        throw new DabbaError('DABBA_E_STORE', `${path} is not a Dabba time-series block (version 1)`);
      }
      this.meta = {
        columns: view.getUint8(5),
        resolutionMs: view.getFloat64(8, true),
        start: view.getFloat64(16, true),
        end: view.getFloat64(24, true),
      };
      const n = view.getUint32(32, true);
      const dir = this.#read(HEADER, n * ENTRY);
      if (dir.length !== n * ENTRY || crc32(dir) !== view.getUint32(36, true)) {
        throw new DabbaError('DABBA_E_STORE', `${path}: the block's directory is damaged (crc mismatch)`);
      }
      const dv = new DataView(dir.buffer, dir.byteOffset, dir.byteLength);
      let size = HEADER + n * ENTRY;
      for (let i = 0; i < n; i++) {
        const e = i * ENTRY;
        const id =
          dv.getUint32(e, true).toString(16).padStart(8, '0') +
          dv
            .getUint32(e + 4, true)
            .toString(16)
            .padStart(8, '0');
        const entry = {
          count: dv.getUint32(e + 8, true),
          offset: dv.getUint32(e + 12, true),
          length: dv.getUint32(e + 16, true),
          crc: dv.getUint32(e + 20, true),
        };
        size += entry.length;
        this.#entries.set(id, entry);
      }
      this.size = size;
    } catch (e) {
      closeSync(this.#fd);
      throw e;
    }
  }

  ids(): IterableIterator<string> {
    return this.#entries.keys();
  }
  get seriesCount(): number {
    return this.#entries.size;
  }
  /** Points (or buckets) stored, over all series. */
  get pointCount(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.count;
    return n;
  }

  /**
   * Bulk mode, for a query about to read many of the block's series: the first stream read after
   * `beginBulk()` reads the whole file with one pread, and later ones are slices of it, until
   * `endBulk()` drops it (one read per block instead of one per series).
   */
  beginBulk(): void {
    this.#bulkWanted = true;
  }
  endBulk(): void {
    this.#bulkWanted = false;
    this.#bulk = undefined;
  }
  #bulkWanted = false;
  #bulk: Uint8Array | undefined;

  /** One series' stream and point count, or undefined when the block does not hold it. */
  series(id: string): { count: number; bytes: Uint8Array } | undefined {
    const e = this.#entries.get(id);
    if (e === undefined) return undefined;
    if (this.#bulkWanted && this.#bulk === undefined) this.#bulk = this.#read(0, this.size);
    const bulk = this.#bulk;
    const bytes =
      bulk !== undefined && e.offset + e.length <= bulk.length
        ? bulk.subarray(e.offset, e.offset + e.length)
        : this.#read(e.offset, e.length);
    if (bytes.length !== e.length || crc32(bytes) !== e.crc) {
      throw new DabbaError('DABBA_E_STORE', `${this.path}: series ${id} is damaged (crc mismatch)`, {
        details: { path: this.path, id },
      });
    }
    return { count: e.count, bytes };
  }

  close(): void {
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #read(position: number, length: number): Uint8Array {
    const buf = new Uint8Array(length);
    let got = 0;
    while (got < length) {
      const n = readSync(this.#fd, buf, got, length - got, position + got);
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  }
}

/**
 * The head log: one append-only file per open 2-hour window, `head/<windowStart>-<seq>.log`, holding every
 * point appended to that window since its block was last cut. Points are buffered in memory and
 * written by `flush()` as one record per window: [u32 payload length][u32 crc32 of payload][payload],
 * payload = n x (u32 series ref, f64 timestamp, f64 value), little endian, followed by fdatasync.
 * A crash loses what was appended since the last flush; a torn or corrupt record at the end of a
 * file (and everything after it) is dropped on replay and the file is cut back to the last good
 * record. A window's file is deleted once its block file (`raw/<windowStart>-<seq>.blk`, same seq)
 * is durable; a head file whose block exists was sealed before a crash and is deleted on open.
 */
import {
  closeSync,
  fdatasyncSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { crc32 } from 'node:zlib';
import { fsyncDir } from './durable-files.ts';

const POINT_BYTES = 20;
const HEADER_BYTES = 8;

/** One head file: the points of one window since its block was last cut (`<window>-<seq>.log`). */
export class HeadSegment {
  readonly window: number;
  readonly seq: number;
  readonly path: string;
  #buf = new Uint8Array(HEADER_BYTES + 1024 * POINT_BYTES);
  #view = new DataView(this.#buf.buffer);
  /** Bytes buffered, header included. */
  #used = HEADER_BYTES;
  #fd = -1;

  constructor(dir: string, window: number, seq: number) {
    this.window = window;
    this.seq = seq;
    this.path = join(dir, `${window}-${seq}.log`);
  }

  /** Buffers one point (written by flush). */
  push(ref: number, t: number, v: number): void {
    if (this.#used + POINT_BYTES > this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf.subarray(0, this.#used));
      this.#buf = bigger;
      this.#view = new DataView(bigger.buffer);
    }
    const o = this.#used;
    this.#view.setUint32(o, ref, true);
    this.#view.setFloat64(o + 4, t, true);
    this.#view.setFloat64(o + 12, v, true);
    this.#used = o + POINT_BYTES;
  }

  /** Appends the buffered points as one record and fdatasyncs. */
  flush(): void {
    if (this.#used === HEADER_BYTES) return;
    if (this.#fd < 0) {
      this.#fd = openSync(this.path, 'a');
      fsyncDir(dirname(this.path));
    }
    const payload = this.#buf.subarray(HEADER_BYTES, this.#used);
    this.#view.setUint32(0, payload.length, true);
    this.#view.setUint32(4, crc32(payload), true);
    writeSync(this.#fd, this.#buf, 0, this.#used);
    fdatasyncSync(this.#fd);
    this.#used = HEADER_BYTES;
    if (this.#buf.length > 1 << 20) {
      this.#buf = new Uint8Array(HEADER_BYTES + 1024 * POINT_BYTES);
      this.#view = new DataView(this.#buf.buffer);
    }
  }

  /** Closes the file, flushing first unless `discard` (its points are durable elsewhere). */
  close(discard = false): void {
    if (!discard) this.flush();
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  /** Closes and deletes the file (its block is durable). */
  remove(): void {
    this.close(true);
    rmSync(this.path, { force: true });
  }

  /**
   * Replays the file, calling `point` for each point of each good record, and cuts a torn or
   * damaged tail. Returns the number of points replayed.
   */
  replay(point: (ref: number, t: number, v: number) => void): number {
    const data = readFileSync(this.path);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let at = 0;
    let n = 0;
    while (at + HEADER_BYTES <= data.length) {
      const len = view.getUint32(at, true);
      const end = at + HEADER_BYTES + len;
      if (len % POINT_BYTES !== 0 || end > data.length) break;
      if (crc32(data.subarray(at + HEADER_BYTES, end)) !== view.getUint32(at + 4, true)) break;
      for (let o = at + HEADER_BYTES; o < end; o += POINT_BYTES) {
        point(view.getUint32(o, true), view.getFloat64(o + 4, true), view.getFloat64(o + 12, true));
        n++;
      }
      at = end;
    }
    if (at < data.length) truncateSync(this.path, at);
    return n;
  }
}

/** The head files on disk in `dir`, oldest window first. */
export function headSegmentsOnDisk(dir: string): { window: number; seq: number }[] {
  return readdirSync(dir)
    .map((f) => /^(\d+)-(\d+)\.log$/.exec(f))
    .filter((m) => m !== null)
    .map((m) => ({ window: Number(m[1]), seq: Number(m[2]) }))
    .sort((a, b) => a.window - b.window || a.seq - b.seq);
}

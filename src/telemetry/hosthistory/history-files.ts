/**
 * Where blocks live: one file per hour (`YYYYMMDDTHH.hist`, UTC, by the block's first sample), each a
 * sequence of records `[magic u32][length u32][first time f64][last time f64][zstd block]`. The block
 * being filled is rewritten to `open.blk` (write, then rename) at every sample, so a host that hangs
 * or loses power keeps its last seconds; at start it is appended to its hour file. Past the disk
 * budget or the age limit the oldest hour files are deleted. A torn record at a file's end (a crash
 * mid-append) ends that file's reading; disk full loses the block, never the agent.
 */
import {
  appendFileSync,
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

const MAGIC = 0x31484844; // "DHH1" little-endian
const HEADER = 24;
const OPEN_BLOCK = 'open.blk';
const SUFFIX = '.hist';

export interface BlockRef {
  file: string;
  offset: number;
  length: number;
  first: number;
  last: number;
}

export function hourFileName(time: number): string {
  const iso = new Date(time).toISOString(); // 2026-12-06T03:22:21.000Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${SUFFIX}`;
}

function record(first: number, last: number, block: Uint8Array): Buffer {
  const head = Buffer.alloc(HEADER);
  head.writeUInt32LE(MAGIC, 0);
  head.writeUInt32LE(block.length, 4);
  head.writeDoubleLE(first, 8);
  head.writeDoubleLE(last, 16);
  return Buffer.concat([head, block]);
}

export class HistoryFiles {
  readonly dir: string;
  /** Headers of each hour file, read once per size seen. */
  readonly #index = new Map<string, { size: number; blocks: BlockRef[] }>();

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Made when first written to (never at start: a disk that cannot take it must not stop the agent). */
  #ensureDir(): void {
    mkdirSync(this.dir, { recursive: true });
  }

  /** The hour files, oldest first. */
  files(): string[] {
    try {
      return readdirSync(this.dir)
        .filter((f) => f.endsWith(SUFFIX))
        .sort();
    } catch {
      return [];
    }
  }

  totalBytes(): number {
    let total = 0;
    for (const f of [...this.files(), OPEN_BLOCK]) {
      try {
        total += statSync(join(this.dir, f)).size;
      } catch {
        // gone meanwhile
      }
    }
    return total;
  }

  /** Appends a full block to its hour file. Throws on I/O errors (disk full): the caller decides. */
  append(first: number, last: number, block: Uint8Array): void {
    this.#ensureDir();
    appendFileSync(join(this.dir, hourFileName(first)), record(first, last, block));
  }

  /** Saves the block being filled, replacing the previous save. */
  saveOpen(first: number, last: number, block: Uint8Array): void {
    this.#ensureDir();
    const tmp = join(this.dir, `${OPEN_BLOCK}.tmp`);
    writeFileSync(tmp, record(first, last, block));
    renameSync(tmp, join(this.dir, OPEN_BLOCK));
  }

  dropOpen(): void {
    rmSync(join(this.dir, OPEN_BLOCK), { force: true });
  }

  /** At start: the block a previous agent was filling goes to its hour file as it is. */
  recoverOpen(): void {
    const path = join(this.dir, OPEN_BLOCK);
    let data: Buffer;
    try {
      data = readFileSync(path);
    } catch {
      return;
    }
    const ref = parseHeader(data, 0, data.length);
    if (ref) appendFileSync(join(this.dir, hourFileName(ref.first)), data.subarray(0, HEADER + ref.length));
    rmSync(path, { force: true });
  }

  /**
   * Deletes the oldest hour files while the total is over `budgetBytes` or a file's hour ended more
   * than `maxAgeMs` before `now`. The file being written (the newest) is kept. Returns what was deleted.
   */
  enforce(budgetBytes: number, maxAgeMs: number, now: number): string[] {
    const files = this.files();
    const sizes = files.map((f) => {
      try {
        return statSync(join(this.dir, f)).size;
      } catch {
        return 0;
      }
    });
    let total = sizes.reduce((a, b) => a + b, 0);
    const deleted: string[] = [];
    for (const [i, f] of files.entries()) {
      if (i === files.length - 1) break;
      const hourEnd = hourStart(f) + 3_600_000;
      if (total <= budgetBytes && now - hourEnd <= maxAgeMs) break;
      rmSync(join(this.dir, f), { force: true });
      this.#index.delete(f);
      total -= sizes[i] ?? 0;
      deleted.push(f);
    }
    return deleted;
  }

  /** Every stored block, oldest first. */
  blocks(): BlockRef[] {
    const out: BlockRef[] = [];
    const files = this.files();
    for (const f of this.#index.keys()) if (!files.includes(f)) this.#index.delete(f);
    for (const f of files) {
      let size: number;
      try {
        size = statSync(join(this.dir, f)).size;
      } catch {
        continue;
      }
      let entry = this.#index.get(f);
      if (entry?.size !== size) {
        entry = { size, blocks: this.#scan(f, size) };
        this.#index.set(f, entry);
      }
      out.push(...entry.blocks);
    }
    return out.sort((a, b) => a.first - b.first);
  }

  read(ref: BlockRef): Buffer {
    const fd = openSync(join(this.dir, ref.file), 'r');
    try {
      const buf = Buffer.alloc(ref.length);
      readSync(fd, buf, 0, ref.length, ref.offset);
      return buf;
    } finally {
      closeSync(fd);
    }
  }

  #scan(file: string, size: number): BlockRef[] {
    const out: BlockRef[] = [];
    let fd: number;
    try {
      fd = openSync(join(this.dir, file), 'r');
    } catch {
      return out;
    }
    try {
      const head = Buffer.alloc(HEADER);
      for (let pos = 0; pos + HEADER <= size;) {
        if (readSync(fd, head, 0, HEADER, pos) < HEADER) break;
        const ref = parseHeader(head, 0, size - pos);
        if (!ref) break;
        out.push({ file, offset: pos + HEADER, length: ref.length, first: ref.first, last: ref.last });
        pos += HEADER + ref.length;
      }
    } finally {
      closeSync(fd);
    }
    return out;
  }
}

function parseHeader(
  buf: Buffer,
  at: number,
  available: number,
): { length: number; first: number; last: number } | undefined {
  if (buf.length < at + HEADER || buf.readUInt32LE(at) !== MAGIC) return undefined;
  const length = buf.readUInt32LE(at + 4);
  if (HEADER + length > available) return undefined;
  return { length, first: buf.readDoubleLE(at + 8), last: buf.readDoubleLE(at + 16) };
}

function hourStart(file: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})/.exec(file);
  if (!m) return 0;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]));
}

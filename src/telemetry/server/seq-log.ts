/**
 * The highest ingest batch seq applied per host, kept durably beside the time series
 * (`ingest-seq.jsonl` in the store's directory): one JSON line `{host, seq, spool?}` per applied
 * batch, appended and fdatasynced after the batch's points are flushed. On open the last line per
 * host wins (a torn last line is cut); when the file has grown past a limit it is rewritten with one
 * line per host (atomically: temp, fsync, rename, fsync dir).
 */
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';

export interface AppliedSeq {
  seq: number;
  spool?: string;
}

const COMPACT_BYTES = 4 * 1024 * 1024;

export class SeqLog {
  readonly #path: string;
  readonly #dir: string;
  readonly #last = new Map<string, AppliedSeq>();
  #fd: number;
  #bytes = 0;

  constructor(dir: string) {
    this.#dir = dir;
    this.#path = join(dir, 'ingest-seq.jsonl');
    if (existsSync(this.#path)) this.#load();
    this.#fd = openSync(this.#path, 'a');
  }

  get(host: string): AppliedSeq | undefined {
    return this.#last.get(host);
  }

  /** Records a batch as applied (durable when this returns). */
  record(host: string, seq: number, spool: string | undefined): void {
    const entry: AppliedSeq = spool === undefined ? { seq } : { seq, spool };
    this.#last.set(host, entry);
    const line = JSON.stringify({ host, ...entry }) + '\n';
    writeSync(this.#fd, line);
    fdatasyncSync(this.#fd);
    this.#bytes += Buffer.byteLength(line);
    if (this.#bytes > COMPACT_BYTES) this.#compact();
  }

  close(): void {
    if (this.#fd < 0) return;
    closeSync(this.#fd);
    this.#fd = -1;
  }

  #load(): void {
    const text = readFileSync(this.#path, 'utf8');
    let at = 0;
    while (at < text.length) {
      const nl = text.indexOf('\n', at);
      if (nl < 0) break;
      try {
        const r = JSON.parse(text.slice(at, nl)) as { host: string; seq: number; spool?: string };
        this.#last.set(r.host, r.spool === undefined ? { seq: r.seq } : { seq: r.seq, spool: r.spool });
      } catch {
        break;
      }
      at = nl + 1;
    }
    const good = Buffer.byteLength(text.slice(0, at));
    if (at < text.length) truncateSync(this.#path, good);
    this.#bytes = good;
  }

  #compact(): void {
    const tmp = `${this.#path}.tmp`;
    const lines = [...this.#last].map(([host, e]) => JSON.stringify({ host, ...e }) + '\n').join('');
    const fd = openSync(tmp, 'w');
    try {
      writeSync(fd, lines);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.#path);
    const dfd = openSync(this.#dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
    closeSync(this.#fd);
    this.#fd = openSync(this.#path, 'a');
    this.#bytes = Buffer.byteLength(lines);
  }
}

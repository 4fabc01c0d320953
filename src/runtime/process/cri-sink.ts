/**
 * Where the log writer puts a container's CRI records (log-writer.ts `openCri`): appended to ctr.log,
 * whole records only. A write that fails (the disk full or read-only) drops the records it held and
 * counts the output they carried (cri-records.ts); a record cut by a short write is taken back
 * (truncated), or if that fails ended with a newline before the next write, so the log stays one
 * record per line.
 */
import { constants } from 'node:fs';
import { open, readFile, writeFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { CRI_LIMIT_FILE, outputOf, wholeRecords, type DroppedOutput } from './cri-records.ts';

/** Where the log writer puts what comes down one pipe. */
export interface Sink {
  write(chunk: Buffer): Promise<void>;
  close(): Promise<void>;
}

export interface CriHooks {
  /** A write succeeded (windows of drops close). */
  wrote(): void;
  dropped(out: DroppedOutput, reason: string): void;
}

/** The log's size limit written at the container's start (undefined: none). */
export async function readLimit(dir: string): Promise<number | undefined> {
  try {
    const v = (JSON.parse(await readFile(join(dir, CRI_LIMIT_FILE), 'utf8')) as { maxBytes?: unknown })
      .maxBytes;
    return typeof v === 'number' && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

export async function writeLimit(dir: string, maxBytes: number | undefined): Promise<void> {
  if (maxBytes !== undefined) await writeFile(join(dir, CRI_LIMIT_FILE), JSON.stringify({ maxBytes }));
}

export class CriSink implements Sink {
  readonly #path: string;
  readonly #maxBytes: number | undefined;
  readonly #hooks: CriHooks;
  #rest: Buffer = Buffer.alloc(0);
  #log: FileHandle | undefined;
  #size = 0;
  /** The last write stopped inside a record: end that line first. */
  #cut = false;

  constructor(path: string, maxBytes: number | undefined, hooks: CriHooks) {
    this.#path = path;
    this.#maxBytes = maxBytes;
    this.#hooks = hooks;
  }

  async write(chunk: Buffer): Promise<void> {
    const { records, rest } = wholeRecords(
      this.#rest.length > 0 ? Buffer.concat([this.#rest, chunk]) : chunk,
    );
    this.#rest = Buffer.from(rest);
    if (records.length > 0) await this.#append(records);
  }

  async close(): Promise<void> {
    // conmon ends every record with a newline: a rest is output cut by conmon's own end.
    if (this.#rest.length > 0) await this.#append(Buffer.concat([this.#rest, Buffer.from('\n')]));
    this.#rest = Buffer.alloc(0);
    await this.#log?.close();
    this.#log = undefined;
  }

  async #append(records: Buffer): Promise<void> {
    const data = this.#cut ? Buffer.concat([Buffer.from('\n'), records]) : records;
    const skip = data.length - records.length;
    let off = 0;
    try {
      if (this.#log === undefined) {
        this.#log = await open(
          this.#path,
          constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT,
          0o600,
        );
        this.#size = (await this.#log.stat()).size;
      }
      if (this.#maxBytes !== undefined && this.#size > 0 && this.#size + data.length > this.#maxBytes) {
        // As conmon's --log-size-max: the log starts over.
        await this.#log.truncate(0);
        this.#size = 0;
      }
      while (off < data.length) {
        const { bytesWritten } = await this.#log.write(data, off, data.length - off);
        if (bytesWritten === 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
        off += bytesWritten;
        this.#size += bytesWritten;
      }
      this.#cut = false;
      this.#hooks.wrote();
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
      // The records from the one the failed write stopped in (a cut record counts as dropped).
      const at = Math.max(0, off - skip);
      const from = at === 0 ? 0 : records.lastIndexOf(0x0a, at - 1) + 1;
      if (at > from && this.#log !== undefined) {
        // A record cut by a short write: taken back (making a file smaller needs no room).
        const whole = this.#size - (at - from);
        try {
          await this.#log.truncate(whole);
          this.#size = whole;
          this.#cut = false;
        } catch {
          this.#cut = true;
        }
      } else if (off > 0) this.#cut = false; // nothing cut, or the newline ending a cut line went in
      this.#hooks.dropped(outputOf(records.subarray(from)), code);
      if (code !== 'ENOSPC' && code !== 'EDQUOT') {
        // A read-only or broken file: open it again next time (it may be a new mount by then).
        await this.#log?.close().catch(() => undefined);
        this.#log = undefined;
      }
    }
  }
}

/**
 * The agent's bounded on-disk spool of metric batches (docs/telemetry.md, "Spool").
 *
 * Each batch is one gzipped JSON file, `SEQ.json.gz`, written whole (temporary file, fsync, rename), numbered by an
 * increasing `seq` per host. The shipper sends the oldest first and deletes a file only once the
 * server has acknowledged its seq; the highest acknowledged seq is kept in `acked`, so numbers are
 * never reused after a restart, even with the spool empty (a fresh spool starts at the clock's ms,
 * so even a wiped data dir does not reuse numbers the server has seen). Over its budget (bytes or
 * batches) the spool drops its oldest batches and counts them. A write that fails (disk full, read-
 * only) loses that batch, counted and logged; it never throws into the agent.
 */
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip as gunzipCb, gzip as gzipCb } from 'node:zlib';
import { join } from 'node:path';
import type { Clock, Logger } from '../../lib/index.ts';
import { messageOf } from '../../errors/index.ts';
import type { WireBatch, WireSeries } from './wire.ts';

export interface SpoolOptions {
  dir: string;
  host: string;
  logger: Logger;
  clock: Clock;
  /** Budget in bytes (default 64 MiB). */
  maxBytes?: number;
  /** Most batches kept (default 50,000). */
  maxBatches?: number;
}

export interface SpoolStats {
  batches: number;
  bytes: number;
  /** Batches dropped (oldest first) to stay within the budget. */
  dropped: number;
  /** Samples in those batches. */
  droppedSamples: number;
  /** Batches lost because writing them failed (disk full, read-only, ...). */
  writeFailures: number;
  /** Files found unreadable or corrupt, removed. */
  corrupt: number;
}

interface Entry {
  seq: number;
  bytes: number;
  samples: number;
}

const gzip = promisify(gzipCb);
const gunzip = promisify(gunzipCb);

export const DEFAULT_SPOOL_BYTES = 64 * 1024 * 1024;
const FILE = /^(\d+)\.json\.gz$/;
const fileOf = (seq: number): string => `${seq}.json.gz`;

export class Spool {
  readonly #o: SpoolOptions;
  readonly #entries: Entry[] = [];
  #nextSeq = 0;
  #id = '';
  #acked = 0;
  #bytes = 0;
  #waiters: (() => void)[] = [];
  readonly #stats = { dropped: 0, droppedSamples: 0, writeFailures: 0, corrupt: 0 };

  private constructor(o: SpoolOptions) {
    this.#o = o;
  }

  /** Opens (creating) the spool in `dir`, indexing the batches a previous agent left. */
  static async open(o: SpoolOptions): Promise<Spool> {
    const s = new Spool(o);
    await mkdir(o.dir, { recursive: true, mode: 0o700 });
    const acked = Number((await readFile(join(o.dir, 'acked'), 'utf8').catch(() => '0')).trim());
    s.#acked = Number.isSafeInteger(acked) && acked > 0 ? acked : 0;
    s.#id = (await readFile(join(o.dir, 'id'), 'utf8').catch(() => '')).trim();
    if (!/^[0-9a-f]{16,64}$/.test(s.#id)) {
      s.#id = randomBytes(12).toString('hex');
      await writeFile(join(o.dir, 'id'), `${s.#id}\n`);
    }
    for (const name of await readdir(o.dir)) {
      if (name.endsWith('.tmp')) {
        await rm(join(o.dir, name), { force: true });
        continue;
      }
      const m = FILE.exec(name);
      if (!m) continue;
      const seq = Number(m[1]);
      if (seq <= s.#acked) {
        // Acknowledged just before the previous agent stopped, not yet deleted.
        await rm(join(o.dir, name), { force: true });
        continue;
      }
      const size = (await stat(join(o.dir, name)).catch(() => undefined))?.size ?? 0;
      s.#entries.push({ seq, bytes: size, samples: 0 });
      s.#bytes += size;
    }
    s.#entries.sort((a, b) => a.seq - b.seq);
    const last = s.#entries.at(-1)?.seq ?? s.#acked;
    s.#nextSeq = last > 0 ? last + 1 : Math.max(1, Math.floor(o.clock.now()));
    return s;
  }

  /** This spool's id, made when its directory was: the server restarts its seq check on a new one. */
  get id(): string {
    return this.#id;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  stats(): SpoolStats {
    return { batches: this.#entries.length, bytes: this.#bytes, ...this.#stats };
  }

  /** Writes a batch of `series`; returns its seq, or undefined when it could not be written. */
  async append(series: WireSeries[]): Promise<number | undefined> {
    const seq = this.#nextSeq++;
    const batch: WireBatch = { host: this.#o.host, seq, spool: this.#id, series };
    let body: Buffer;
    try {
      body = await gzip(JSON.stringify(batch));
    } catch (e) {
      this.#stats.writeFailures++;
      this.#o.logger.warn({ err: messageOf(e), seq }, 'metrics spool: could not encode a batch; it is lost');
      return undefined;
    }
    const path = join(this.#o.dir, fileOf(seq));
    try {
      const fh = await open(`${path}.tmp`, 'w', 0o600);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(`${path}.tmp`, path);
    } catch (e) {
      this.#stats.writeFailures++;
      await rm(`${path}.tmp`, { force: true }).catch(() => undefined);
      this.#o.logger.warn(
        { err: messageOf(e), seq, lost: this.#stats.writeFailures },
        'metrics spool: could not write a batch; it is lost',
      );
      return undefined;
    }
    const bytes = body.length;
    const samples = series.reduce((n, s) => n + s.samples.length, 0);
    this.#entries.push({ seq, bytes, samples });
    this.#bytes += bytes;
    await this.#enforceBudget();
    for (const w of this.#waiters.splice(0)) w();
    return seq;
  }

  /** The oldest batch not yet acknowledged (corrupt files are removed and skipped). */
  async oldest(): Promise<WireBatch | undefined> {
    for (;;) {
      const e = this.#entries[0];
      if (e === undefined) return undefined;
      try {
        const raw = await gunzip(await readFile(join(this.#o.dir, fileOf(e.seq))));
        const parsed = JSON.parse(raw.toString('utf8')) as WireBatch;
        if (parsed.seq !== e.seq || !Array.isArray(parsed.series)) throw new Error('not a batch');
        return parsed;
      } catch (err) {
        // Dropped meanwhile by the budget: just move on.
        if (this.#entries[0] !== e) continue;
        this.#stats.corrupt++;
        this.#o.logger.warn({ err: messageOf(err), seq: e.seq }, 'metrics spool: unreadable batch removed');
        await this.#remove(e);
      }
    }
  }

  /** The server acknowledged `seq`: remember it, then delete the batch. */
  async ack(seq: number): Promise<void> {
    if (seq > this.#acked) {
      this.#acked = seq;
      try {
        await writeFile(join(this.#o.dir, 'acked.tmp'), `${seq}\n`);
        await rename(join(this.#o.dir, 'acked.tmp'), join(this.#o.dir, 'acked'));
      } catch (e) {
        // Without the mark the file stays; it is sent again and the server drops it as a duplicate.
        this.#o.logger.warn({ err: messageOf(e), seq }, 'metrics spool: could not record an acknowledgement');
        return;
      }
    }
    const e = this.#entries.find((x) => x.seq === seq);
    if (e) await this.#remove(e);
  }

  /** Resolves at the next append (or at once when aborted). */
  appended(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = (): void => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.push(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #enforceBudget(): Promise<void> {
    const maxBytes = this.#o.maxBytes ?? DEFAULT_SPOOL_BYTES;
    const maxBatches = this.#o.maxBatches ?? 50_000;
    let droppedNow = 0;
    while (this.#entries.length > 1 && (this.#bytes > maxBytes || this.#entries.length > maxBatches)) {
      const e = this.#entries[0];
      if (e === undefined) break;
      this.#stats.dropped++;
      this.#stats.droppedSamples += e.samples;
      droppedNow++;
      await this.#remove(e);
    }
    if (droppedNow > 0) {
      this.#o.logger.warn(
        { dropped: droppedNow, droppedTotal: this.#stats.dropped, bytes: this.#bytes, maxBytes },
        'metrics spool over its budget: oldest batches dropped',
      );
    }
  }

  async #remove(e: Entry): Promise<void> {
    const i = this.#entries.indexOf(e);
    if (i < 0) return;
    this.#entries.splice(i, 1);
    this.#bytes -= e.bytes;
    await rm(join(this.#o.dir, fileOf(e.seq)), { force: true }).catch(() => undefined);
  }
}

/**
 * The host's config contents, by digest (docs/config.md, "Distribution"): each is fetched once from
 * an upstream — the tree parent first, then the fallbacks, then the server — into
 * `DIR/HEX.part`, resumed with `Range` from where it stopped when an upstream fails, hashed as it
 * arrives and renamed to `DIR/HEX` only when the whole content matches its digest. Readers (the
 * host's own mounts, and children fetching from this host) read the file while it is still
 * arriving: the bytes are forwarded as they come (pipelined), not after the whole content.
 */
import { createHash, type Hash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { DabbaClient } from '../../client/index.ts';
import { DabbaError, messageOf } from '../../errors/index.ts';
import { sleep, type Logger } from '../../lib/index.ts';
import type { ConfigMeta, DataStats } from '../../model/index.ts';

/** Where a content can be fetched from. */
export interface Upstream {
  kind: 'parent' | 'fallback' | 'server';
  /** The host, for a parent or a fallback. */
  host?: string;
  client: DabbaClient;
}

export interface ContentCacheOptions {
  dir: string;
  logger: Logger;
  stats: DataStats;
  /** The upstreams of a content's shard, in the order to try them (the server last). */
  upstreams(meta: ConfigMeta): Upstream[];
  /** An upstream host failed (told to the distributor with the next heartbeat). */
  suspect(host: string): void;
  /** A fetch with no byte for this long gives up on its upstream (ms, default 10,000). */
  idleMs?: number;
}

/**
 * A few buffers of READ_BYTES reused for one child's reads: `take` waits until one is given back
 * (or the signal aborts), `give` returns the one a piece was read into.
 */
export class ReadBuffers {
  readonly #free: Buffer[] = [];
  readonly #mine = new Map<ArrayBufferLike, Buffer>();
  readonly #count: number;
  readonly #signal: AbortSignal;
  #waiter: (() => void) | undefined;

  /** Up to `count` buffers, made as they are first needed. */
  constructor(count: number, signal: AbortSignal) {
    this.#count = count;
    this.#signal = signal;
    signal.addEventListener('abort', () => this.#wake(), { once: true });
  }

  /** Whether a content of `bytes` is worth reading into reused buffers (more than one piece). */
  static worthFor(bytes: number): boolean {
    return bytes > READ_BYTES;
  }

  async take(): Promise<Buffer> {
    for (;;) {
      this.#signal.throwIfAborted();
      const b = this.#free.pop();
      if (b !== undefined) return b;
      if (this.#mine.size < this.#count) {
        const made = Buffer.allocUnsafe(READ_BYTES);
        this.#mine.set(made.buffer, made);
        return made;
      }
      await new Promise<void>((resolve) => (this.#waiter = resolve));
    }
  }

  /** Gives back the buffer `piece` was read into (a piece of one of these, else nothing). */
  give(piece: Uint8Array): void {
    const b = this.#mine.get(piece.buffer);
    if (b === undefined || this.#free.includes(b)) return;
    this.#free.push(b);
    this.#wake();
  }

  #wake(): void {
    const w = this.#waiter;
    this.#waiter = undefined;
    w?.();
  }
}

class Download {
  readonly meta: ConfigMeta;
  received = 0;
  done = false;
  failed: Error | undefined;
  readonly part: string;
  readonly file: string;
  hash: Hash = createHash('sha256');
  #wakers: (() => void)[] = [];
  finished: Promise<void> = Promise.resolve();

  constructor(meta: ConfigMeta, dir: string) {
    this.meta = meta;
    const hex = meta.digest.replace(/^sha256:/, '');
    this.part = join(dir, `${hex}.part`);
    this.file = join(dir, hex);
  }

  wake(): void {
    const w = this.#wakers;
    this.#wakers = [];
    for (const f of w) f();
  }

  changed(): Promise<void> {
    return new Promise((resolve) => this.#wakers.push(resolve));
  }
}

const ATTEMPTS = 8;
/** A content arriving from an upstream is written in runs of this many bytes (or its end). */
const WRITE_BYTES = 1024 * 1024;
/** A reader (the host's child) reads the content in pieces of up to this many bytes. */
const READ_BYTES = 1024 * 1024;

export class ContentCache {
  readonly #o: ContentCacheOptions;
  readonly #downloads = new Map<string, Download>();
  #dirReady: Promise<unknown> | undefined;

  constructor(o: ContentCacheOptions) {
    this.#o = o;
  }

  /**
   * The content's download (started if it is not there yet). A content that came inside its
   * metadata (ConfigMeta.content) is written as it is once it matches its digest: no upstream.
   */
  get(meta: ConfigMeta): Download {
    let d = this.#downloads.get(meta.digest);
    if (d === undefined || d.failed !== undefined) {
      const fresh = new Download(meta, this.#o.dir);
      this.#downloads.set(meta.digest, fresh);
      fresh.finished = this.#inline(fresh, meta.content).then((had) =>
        had ? undefined : this.#fetch(fresh),
      );
      d = fresh;
    }
    return d;
  }

  /** Writes a content carried by its metadata; false when there is none or it does not match. */
  async #inline(d: Download, content: string | undefined): Promise<boolean> {
    if (content === undefined) return false;
    const bytes = Buffer.from(content, 'base64');
    if (
      bytes.length !== d.meta.size ||
      `sha256:${createHash('sha256').update(bytes).digest('hex')}` !== d.meta.digest
    ) {
      this.#o.stats.digestMismatches++;
      return false;
    }
    try {
      this.#dirReady ??= mkdir(this.#o.dir, { recursive: true });
      await this.#dirReady;
      // Whole and verified before it is written: readers wait on `received`, set only after.
      // At most META_INLINE_MAX_BYTES: written at once, not through the thread pool (on a busy
      // host its queue put a round trip of up to hundreds of ms before the task files).
      writeFileSync(d.file, bytes);
    } catch (e) {
      this.#o.logger.info(
        { err: messageOf(e), config: d.meta.path },
        'writing an inline config content failed',
      );
      return false;
    }
    d.received = bytes.length;
    d.done = true;
    this.#o.stats.contentsInline++;
    d.wake();
    return true;
  }

  /** The path of the whole, verified content, once it is there. */
  async file(meta: ConfigMeta): Promise<string> {
    const d = this.get(meta);
    await d.finished;
    if (d.failed) throw d.failed;
    return d.file;
  }

  /**
   * The content from `offset` on, as it arrives (for a child). With `buffers` each piece is read into
   * one of them, which the caller gives back once it is done with the piece (a child's socket has
   * written it): a new 1 MiB buffer per piece was most of a forwarding host's garbage collection.
   */
  async *read(
    meta: ConfigMeta,
    offset: number,
    signal: AbortSignal,
    buffers?: ReadBuffers,
  ): AsyncGenerator<Buffer> {
    const d = this.get(meta);
    let fh: FileHandle | undefined;
    try {
      let pos = offset;
      while (pos < meta.size) {
        if (signal.aborted) return;
        if (pos < d.received) {
          fh ??= await open(d.done ? d.file : d.part, 'r');
          const buf =
            buffers === undefined
              ? Buffer.allocUnsafe(Math.min(d.received - pos, READ_BYTES))
              : await buffers.take();
          const want = Math.min(d.received - pos, buf.length);
          const { bytesRead } = await fh.read(buf, 0, want, pos);
          if (bytesRead === 0) throw new DabbaError('DABBA_E_INTERNAL', `content ${meta.digest} shrank`);
          pos += bytesRead;
          this.#o.stats.bytesServed += bytesRead;
          yield buf.subarray(0, bytesRead);
          continue;
        }
        if (d.failed) throw d.failed;
        await d.changed();
      }
    } finally {
      await fh?.close();
    }
  }

  /** Forgets a content no longer wanted (its file goes; open readers keep theirs). */
  async drop(digest: string): Promise<void> {
    const d = this.#downloads.get(digest);
    if (d === undefined || !d.done) return;
    this.#downloads.delete(digest);
    await rm(d.file, { force: true });
  }

  async #fetch(d: Download): Promise<void> {
    this.#dirReady ??= mkdir(this.#o.dir, { recursive: true });
    await this.#dirReady;
    let fh: FileHandle | undefined;
    try {
      const handle = await open(d.part, 'w');
      fh = handle;
      for (let attempt = 0; attempt < ATTEMPTS && !d.done; attempt++) {
        if (attempt > 0) await sleep(Math.min(100 * 2 ** attempt, 2000));
        for (const up of this.#o.upstreams(d.meta)) {
          try {
            await this.#from(up, d, handle);
          } catch (e) {
            this.#o.stats.fallbacks++;
            if (up.host !== undefined) this.#o.suspect(up.host);
            this.#o.logger.info(
              { err: messageOf(e), from: up.host ?? 'server', config: d.meta.path, received: d.received },
              'config content fetch failed; trying the next upstream',
            );
            continue;
          }
          if (d.received < d.meta.size) continue;
          const got = `sha256:${d.hash.digest('hex')}`;
          if (got === d.meta.digest) {
            await handle.close();
            fh = undefined;
            await rename(d.part, d.file);
            d.done = true;
            this.#o.stats.contentsFetched++;
            break;
          }
          // A bad upstream: start again from the first byte, from the next one.
          this.#o.stats.digestMismatches++;
          if (up.host !== undefined) this.#o.suspect(up.host);
          d.received = 0;
          d.hash = createHash('sha256');
          await handle.truncate(0);
        }
      }
      if (!d.done)
        throw new DabbaError(
          'DABBA_E_UNAVAILABLE',
          `no upstream gave config ${d.meta.path} v${d.meta.version}`,
        );
    } catch (e) {
      d.failed = e instanceof Error ? e : new Error(String(e));
      await rm(d.part, { force: true });
    } finally {
      await fh?.close();
      d.wake();
    }
  }

  /** Fetches the rest of the content from one upstream; throws when it fails or stalls. */
  async #from(up: Upstream, d: Download, fh: FileHandle): Promise<void> {
    if (d.received >= d.meta.size) return;
    const ac = new AbortController();
    const idleMs = this.#o.idleMs ?? 10_000;
    let timer = setTimeout(() => ac.abort(), idleMs);
    try {
      const { namespace, path, version, digest } = d.meta;
      const resumed = d.received > 0;
      const s = await up.client
        .with({ namespace })
        .configs()
        .contentStream(path, { version, offset: d.received, signal: ac.signal });
      if (s.digest !== digest)
        throw new DabbaError('DABBA_E_INTERNAL', `upstream answered ${s.digest} for ${digest}`);
      if (resumed) this.#o.stats.resumes++;
      const counter =
        up.kind === 'parent'
          ? 'bytesFromParent'
          : up.kind === 'fallback'
            ? 'bytesFromFallback'
            : 'bytesFromServer';
      // Written (and hashed, and offered to readers) in runs of WRITE_BYTES, not chunk by chunk:
      // a TLS stream comes in chunks of 16-64 KiB, and each write is a round trip through the
      // thread pool that held up the next read (100 MB was thousands of them per host).
      let run: Uint8Array[] = [];
      let runBytes = 0;
      const flush = async (): Promise<void> => {
        if (runBytes === 0) return;
        const bufs = run;
        const n = runBytes;
        run = [];
        runBytes = 0;
        const { bytesWritten } = await fh.writev(bufs, d.received);
        if (bytesWritten !== n)
          throw new DabbaError('DABBA_E_INTERNAL', `wrote ${bytesWritten} of ${n} bytes of ${d.meta.digest}`);
        // Hashed with what is written, so that a fetch resumed after a failure hashes each byte once.
        for (const b of bufs) d.hash.update(b);
        d.received += n;
        this.#o.stats[counter] += n;
        d.wake();
      };
      for await (const chunk of s.body) {
        clearTimeout(timer);
        timer = setTimeout(() => ac.abort(), idleMs);
        run.push(chunk);
        runBytes += chunk.length;
        if (runBytes >= WRITE_BYTES) await flush();
      }
      await flush();
      if (d.received < d.meta.size)
        throw new DabbaError('DABBA_E_UNAVAILABLE', `upstream ended ${d.meta.size - d.received} bytes short`);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Layers and archives may be gzip-compressed; tell by the magic bytes, not by names or media types.
 * Decompression is bounded (a gzip bomb stops at the limit, having written nothing past it) and the
 * bytes read from the file are hashed on the way, so a layer blob is verified by the same read that
 * unpacks it.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { hashDigest, newHash, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';

export type Compression = 'gzip' | 'zstd' | 'none';

export async function detectCompression(path: string): Promise<Compression> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    if (bytesRead >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) return 'gzip';
    if (bytesRead >= 4 && buf.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
    return 'none';
  } finally {
    await fh.close();
  }
}

export interface DecompressOptions {
  /** What the file is, for error messages ("layer sha256:..."). */
  what?: string;
  /** Most decompressed bytes to yield; going over throws `onOver()`. Default: unbounded. */
  maxBytes?: number;
  onOver?: () => ImageError;
}

/** A file's content, gunzipped when it is gzip; iterate it once. */
export class Decompressed implements AsyncIterable<Buffer> {
  readonly compression: Compression;
  /** Decompressed bytes yielded so far. */
  bytes = 0;
  readonly #raw: Readable;
  readonly #out: Readable;
  readonly #rawHash = newHash();
  readonly #options: DecompressOptions;
  /** An error the streams raised while nobody was iterating (thrown by the iteration). */
  #failed: Error | undefined;

  constructor(path: string, compression: Compression, options: DecompressOptions) {
    this.compression = compression;
    this.#options = options;
    this.#raw = createReadStream(path, { highWaterMark: 256 * 1024 });
    if (compression === 'gzip') {
      const gunzip = createGunzip();
      this.#raw.on('data', (c: Buffer) => this.#rawHash.update(c));
      this.#raw.on('error', (e) => gunzip.destroy(e));
      this.#out = this.#raw.pipe(gunzip);
    } else {
      this.#out = this.#raw;
    }
    // The pipe runs ahead of the reader: a small truncated gzip can fail ("unexpected end of file")
    // before the first read, when no iteration listens yet, and would be an uncaught 'error' that
    // takes the process down. It is kept here and thrown by the iteration instead.
    this.#out.on('error', (e) => {
      this.#failed ??= e;
    });
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    const limit = this.#options.maxBytes ?? Infinity;
    try {
      if (this.#failed) throw this.#failed;
      for await (const chunk of this.#out as AsyncIterable<Buffer>) {
        this.bytes += chunk.length;
        if (this.bytes > limit) {
          throw (
            this.#options.onOver?.() ??
            new ImageError('TooLarge', `${this.#what()} expands to more than ${limit} bytes`)
          );
        }
        if (this.compression !== 'gzip') this.#rawHash.update(chunk);
        yield chunk;
      }
      // Read through a call: the check before the loop narrowed the field for the compiler.
      const failed = this.#failure();
      if (failed !== undefined) throw failed;
    } catch (e) {
      if (e instanceof ImageError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('Z_') || code === 'ERR_STREAM_PREMATURE_CLOSE') {
        throw new ImageError(
          'InvalidImage',
          `${this.#what()} is not valid gzip (truncated or corrupt): ${(e as Error).message}`,
          { cause: e },
        );
      }
      throw e;
    }
  }

  /** sha256 of the file's bytes; complete once the iteration has reached the end. */
  rawDigest(): Digest {
    return hashDigest(this.#rawHash.copy());
  }

  destroy(): void {
    this.#out.destroy();
    this.#raw.destroy();
  }

  #failure(): Error | undefined {
    return this.#failed;
  }

  #what(): string {
    return this.#options.what ?? 'archive';
  }
}

/** The file's content, gunzipped when it is gzip. zstd is refused with a clear error. */
export async function openDecompressed(path: string, options: DecompressOptions = {}): Promise<Decompressed> {
  const c = await detectCompression(path);
  if (c === 'zstd') throw new ImageError('UnsupportedMediaType', 'zstd-compressed layers are not supported');
  return new Decompressed(path, c, options);
}

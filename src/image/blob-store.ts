/**
 * Content-addressed blobs under DIR/blobs/sha256/<hex>. Every write is hashed on the way in and
 * lands under its name only if the digest (and size, when known) match; partial downloads live in
 * DIR/ingest/<hex>.partial so an interrupted pull resumes where it stopped.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat, truncate, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NotFoundError } from '../errors/index.ts';
import { digestHex, hashDigest, isDigest, newHash, sha256Digest, type Digest } from './digest.ts';
import { digestMismatch, ImageError } from './errors.ts';
import { tooLarge } from './limits.ts';

export interface BlobInfo {
  digest: Digest;
  size: number;
}

export interface Expected {
  digest?: Digest;
  size?: number;
}

export class BlobStore {
  readonly root: string;
  private readonly blobsDir: string;
  private readonly ingestDir: string;
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(root: string) {
    this.root = root;
    this.blobsDir = join(root, 'blobs', 'sha256');
    this.ingestDir = join(root, 'ingest');
  }

  async init(): Promise<void> {
    await mkdir(this.blobsDir, { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
  }

  path(digest: Digest): string {
    if (!isDigest(digest)) throw new ImageError('InvalidImage', `bad digest ${String(digest)}`);
    return join(this.blobsDir, digestHex(digest));
  }

  async size(digest: Digest): Promise<number | undefined> {
    try {
      const s = await stat(this.path(digest));
      return s.isFile() ? s.size : undefined;
    } catch {
      return undefined;
    }
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.size(digest)) !== undefined;
  }

  /** A stream of the blob's bytes from `offset` on. Rejects with NotFoundError if absent. */
  async open(digest: Digest, offset = 0): Promise<ReadStream> {
    const size = await this.size(digest);
    if (size === undefined) throw new NotFoundError('blob', digest);
    if (offset < 0 || offset > size) {
      throw new ImageError('InvalidImage', `offset ${offset} is outside blob ${digest} (${size} bytes)`);
    }
    return createReadStream(this.path(digest), { start: offset });
  }

  /**
   * The whole blob, verified against its digest (for manifests and configs). With `maxBytes`, a
   * larger blob is refused (TooLarge) before it is read.
   */
  async readBytes(digest: Digest, maxBytes?: number): Promise<Buffer> {
    if (maxBytes !== undefined) {
      const size = await this.size(digest);
      if (size !== undefined && size > maxBytes)
        throw tooLarge(`blob ${digest} (${size} bytes)`, 'maxJsonBytes', maxBytes);
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.path(digest));
    } catch {
      throw new NotFoundError('blob', digest);
    }
    const actual = sha256Digest(bytes);
    if (actual !== digest) throw digestMismatch(digest, actual, 'stored blob');
    return bytes;
  }

  async putBytes(bytes: Uint8Array, expected: Expected = {}): Promise<BlobInfo> {
    return this.ingest([bytes], expected);
  }

  /** Writes a blob from a stream, verifying it; a blob already present is not written again. */
  async ingest(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    expected: Expected = {},
  ): Promise<BlobInfo> {
    if (
      expected.digest &&
      expected.size !== undefined &&
      (await this.size(expected.digest)) === expected.size
    ) {
      // Drain nothing: the caller's source may be a live stream it must close itself.
      return { digest: expected.digest, size: expected.size };
    }
    const tmp = join(this.ingestDir, `tmp-${randomBytes(8).toString('hex')}`);
    const hash = newHash();
    let size = 0;
    const fh = await open(tmp, 'w', 0o644);
    try {
      for await (const chunk of source) {
        hash.update(chunk);
        size += chunk.length;
        if (expected.size !== undefined && size > expected.size) {
          throw new ImageError('SizeMismatch', `blob larger than the expected ${expected.size} bytes`, {
            details: { expected: expected.size, digest: expected.digest },
          });
        }
        await fh.write(chunk);
      }
    } catch (e) {
      await fh.close();
      await rm(tmp, { force: true });
      throw e;
    }
    await fh.close();
    const digest = hashDigest(hash);
    try {
      if (expected.digest && digest !== expected.digest) throw digestMismatch(expected.digest, digest);
      if (expected.size !== undefined && size !== expected.size) {
        throw new ImageError('SizeMismatch', `blob ${digest} is ${size} bytes, expected ${expected.size}`, {
          details: { expected: expected.size, actual: size, digest },
        });
      }
      await rename(tmp, this.path(digest));
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { digest, size };
  }

  /** Bytes of a partial download of `digest` already on disk. */
  async partialSize(digest: Digest): Promise<number> {
    try {
      return (await stat(this.partialPath(digest))).size;
    } catch {
      return 0;
    }
  }

  private partialPath(digest: Digest): string {
    return join(this.ingestDir, `${digestHex(digest)}.partial`);
  }

  /**
   * Downloads a blob through `fetch(offset)`, appending to the partial file left by an earlier
   * attempt; retries up to `retries` times on transfer errors, each time from where it stopped.
   * The finished blob is verified; a mismatch discards the partial data.
   */
  async ingestResumable(
    expected: { digest: Digest; size?: number },
    fetch: (offset: number) => Promise<AsyncIterable<Uint8Array>>,
    retries = 3,
  ): Promise<BlobInfo> {
    const key = expected.digest;
    const previous = this.locks.get(key) ?? Promise.resolve();
    const run = previous.catch(() => undefined).then(() => this.resumable(expected, fetch, retries));
    this.locks.set(key, run);
    try {
      return await run;
    } finally {
      if (this.locks.get(key) === run) this.locks.delete(key);
    }
  }

  private async resumable(
    expected: { digest: Digest; size?: number },
    fetch: (offset: number) => Promise<AsyncIterable<Uint8Array>>,
    retries: number,
  ): Promise<BlobInfo> {
    const present = await this.size(expected.digest);
    if (present !== undefined) return { digest: expected.digest, size: present };
    const partial = this.partialPath(expected.digest);
    for (let attempt = 0; ; attempt++) {
      let offset = await this.partialSize(expected.digest);
      if (expected.size !== undefined && offset > expected.size) {
        await truncate(partial, 0);
        offset = 0;
      }
      const hash = newHash();
      if (offset > 0)
        for await (const c of createReadStream(partial, { end: offset - 1 })) hash.update(c as Buffer);
      try {
        if (expected.size === undefined || offset < expected.size) {
          const body = await fetch(offset);
          const fh = await open(partial, 'a', 0o644);
          try {
            for await (const chunk of body) {
              offset += chunk.length;
              if (expected.size !== undefined && offset > expected.size) {
                await fh.close().catch(() => undefined);
                await rm(partial, { force: true });
                throw new ImageError(
                  'SizeMismatch',
                  `blob ${expected.digest} is larger than ${expected.size} bytes`,
                  {
                    details: { expected: expected.size, digest: expected.digest },
                  },
                );
              }
              hash.update(chunk);
              await fh.write(chunk);
            }
          } finally {
            await fh.close().catch(() => undefined);
          }
        }
      } catch (e) {
        if (e instanceof ImageError || attempt >= retries) throw e;
        continue;
      }
      const digest = hashDigest(hash);
      if (digest !== expected.digest || (expected.size !== undefined && offset !== expected.size)) {
        await rm(partial, { force: true });
        if (digest !== expected.digest) throw digestMismatch(expected.digest, digest);
        throw new ImageError('SizeMismatch', `blob ${digest} is ${offset} bytes, expected ${expected.size}`);
      }
      await rename(partial, this.path(digest));
      return { digest, size: offset };
    }
  }
}

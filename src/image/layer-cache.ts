/**
 * Unpacked layers, shared: DIR/<chain id hex>/ holds one layer's files (overlay lower format), made
 * once and reused by every image and task whose stack starts with the same layers. A layer is
 * unpacked into a temporary directory and renamed into place only when complete and verified
 * against its diff id, so a crash never leaves a half layer under its final name.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from './blob-store.ts';
import { openDecompressed } from './compression.ts';
import { chainIds, digestHex, hashDigest, newHash, type Digest } from './digest.ts';
import { digestMismatch, ImageError } from './errors.ts';
import { DEFAULT_LIMITS, tooLarge, type ImageLimits } from './limits.ts';
import { isLayerMediaTypeSupported } from './oci-types.ts';
import { readTar } from './tar-reader.ts';
import type { ImageInfo } from './types.ts';
import { unpackLayer } from './unpack-layer.ts';

async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

export class LayerCache {
  readonly root: string;
  private readonly blobs: BlobStore;
  private readonly inflight = new Map<string, Promise<void>>();
  readonly limits: ImageLimits;
  /** Told about device nodes a layer carried and that were not created (for the log). */
  onSkippedDevices?: (blob: Digest, paths: string[]) => void;

  constructor(root: string, blobs: BlobStore, limits: ImageLimits = DEFAULT_LIMITS) {
    this.root = root;
    this.blobs = blobs;
    this.limits = limits;
  }

  async init(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    // Leftovers of unpacks interrupted by a crash.
    for (const name of await readdir(this.root)) {
      if (name.startsWith('.tmp-')) await rm(join(this.root, name), { recursive: true, force: true });
    }
  }

  dirFor(chainId: Digest): string {
    return join(this.root, digestHex(chainId));
  }

  /** A directory with nothing in it, used as the lower layer of an image without layers. */
  async emptyLayer(): Promise<string> {
    const p = join(this.root, 'empty');
    await mkdir(p, { recursive: true, mode: 0o755 });
    return p;
  }

  /** Unpacks whatever layers of `image` are missing; returns the layer directories, bottom first. */
  async ensure(image: ImageInfo): Promise<string[]> {
    const diffIds = image.config.rootfs.diff_ids;
    const chains = chainIds(diffIds);
    const dirs: string[] = [];
    // The image bound covers the layers unpacked by this call (those already unpacked were bounded
    // when they were).
    const budget = { left: this.limits.maxImageBytes };
    for (const [i, chain] of chains.entries()) {
      const layer = image.manifest.layers[i];
      const diffId = diffIds[i];
      if (!layer || !diffId) throw new ImageError('InvalidImage', `image ${image.name}: layer ${i} missing`);
      const dir = this.dirFor(chain);
      if (!(await exists(dir))) {
        const key = chain;
        let p = this.inflight.get(key);
        if (!p) {
          const lowers = [...dirs].reverse();
          p = this.unpack(layer.digest, layer.mediaType, diffId, dir, lowers, budget).finally(() =>
            this.inflight.delete(key),
          );
          this.inflight.set(key, p);
        }
        await p;
      }
      dirs.push(dir);
    }
    return dirs;
  }

  private async unpack(
    blob: Digest,
    mediaType: string,
    diffId: Digest,
    dir: string,
    lowers: string[],
    budget: { left: number },
  ): Promise<void> {
    if (!isLayerMediaTypeSupported(mediaType)) {
      throw new ImageError('UnsupportedMediaType', `layer ${blob} has unsupported media type ${mediaType}`);
    }
    if (!(await this.blobs.has(blob)))
      throw new ImageError('InvalidImage', `layer blob ${blob} is not in the store`);
    const limits = this.limits;
    const imageBound = budget.left < limits.maxLayerBytes;
    const stream = await openDecompressed(this.blobs.path(blob), {
      what: `layer ${blob}`,
      maxBytes: Math.min(limits.maxLayerBytes, budget.left),
      onOver: () =>
        imageBound
          ? tooLarge(`the image's layers (decompressed)`, 'maxImageBytes', limits.maxImageBytes)
          : tooLarge(`layer ${blob} (decompressed)`, 'maxLayerBytes', limits.maxLayerBytes),
    });
    const tmp = join(this.root, `.tmp-${digestHex(diffId).slice(0, 16)}-${randomBytes(4).toString('hex')}`);
    await mkdir(tmp, { mode: 0o755 });
    await chmod(tmp, 0o755);
    const it = stream[Symbol.asyncIterator]();
    const hash = newHash();
    // The tar reader stops at the end-of-archive marker; the diff id covers every byte, so the
    // reader gets a view that does not close the stream and the rest is hashed afterwards.
    const hashed: AsyncIterable<Buffer> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => {
          const r = await it.next();
          if (!r.done) hash.update(r.value);
          return r;
        },
        return: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    };
    try {
      const stats = await unpackLayer(readTar(hashed, limits), tmp, { lowers });
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        hash.update(r.value);
      }
      budget.left -= stream.bytes;
      // Both digests are checked on the bytes this unpack read, before the layer gets its name:
      // the stored blob's (compressed) digest and the config's diff id (uncompressed).
      const raw = stream.rawDigest();
      if (raw !== blob) throw digestMismatch(blob, raw, 'layer blob');
      const actual = hashDigest(hash);
      if (actual !== diffId) throw digestMismatch(diffId, actual, 'layer diff id');
      if (stats.skippedDevices.length > 0) this.onSkippedDevices?.(blob, stats.skippedDevices);
      if (await exists(dir)) await rm(tmp, { recursive: true, force: true });
      else await rename(tmp, dir);
    } catch (e) {
      stream.destroy();
      await rm(tmp, { recursive: true, force: true });
      if (e instanceof ImageError) throw e;
      throw new ImageError('UnpackFailed', `unpacking layer ${blob} failed: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}

/**
 * Pulls an image from an ImageSource: the manifest (and, for an index, this platform's manifest),
 * then every blob not already stored, each verified against its digest and resumed from its partial
 * download if an earlier attempt was cut. A blob is stored under its name only once verified, and a
 * layer is verified again by the read that unpacks it (layer-cache.ts), before the layer is kept.
 */
import { isDigest, sha256Digest, type Digest } from './digest.ts';
import { digestMismatch, ImageError } from './errors.ts';
import { checkJsonSize, tooLarge, type ImageLimits } from './limits.ts';
import {
  parseManifestOrIndex,
  pickPlatform,
  hostArchitecture,
  type Descriptor,
  type Manifest,
} from './oci-types.ts';
import { canonicalName, parseReference } from './reference.ts';
import type { ImageInfo, ImageSource, ImageWriter } from './types.ts';

export interface PullOptions {
  /** Transfer retries per blob (each resumes where the last stopped). Default 3. */
  retries?: number;
  /** Blobs fetched at once. Default 3. */
  concurrency?: number;
}

async function fetchManifest(
  writer: ImageWriter,
  source: ImageSource,
  ref: string,
  expected?: Digest,
): Promise<{ digest: Digest; bytes: Buffer; mediaType?: string }> {
  const m = await source.manifest(ref);
  checkJsonSize(m.bytes.length, `manifest of ${ref}`, writer.limits);
  const bytes = Buffer.from(m.bytes);
  const digest = sha256Digest(bytes);
  if (m.digest !== undefined) {
    if (!isDigest(m.digest)) throw new ImageError('InvalidImage', `source gave a bad digest ${m.digest}`);
    if (m.digest !== digest) throw digestMismatch(m.digest, digest, 'manifest');
  }
  if (expected !== undefined && expected !== digest) throw digestMismatch(expected, digest, 'manifest');
  await writer.blobs.putBytes(bytes, { digest });
  return m.mediaType !== undefined ? { digest, bytes, mediaType: m.mediaType } : { digest, bytes };
}

async function fetchBlobs(
  writer: ImageWriter,
  source: ImageSource,
  blobs: Descriptor[],
  options: PullOptions,
): Promise<void> {
  const queue = [...blobs];
  const worker = async (): Promise<void> => {
    for (let d = queue.shift(); d; d = queue.shift()) {
      const desc = d;
      if ((await writer.blobs.size(desc.digest)) === desc.size) continue;
      await writer.blobs.ingestResumable(
        { digest: desc.digest, size: desc.size },
        (offset) => source.blob(desc.digest, offset),
        options.retries ?? 3,
      );
    }
  };
  const n = Math.max(1, Math.min(options.concurrency ?? 3, queue.length));
  await Promise.all(Array.from({ length: n }, worker));
}

/** Refuses, before fetching anything, blobs the limits would refuse later anyway. */
function checkSizes(limits: ImageLimits, m: Manifest): void {
  checkJsonSize(m.config.size, `image config ${m.config.digest}`, limits);
  let total = 0;
  for (const l of m.layers) {
    if (l.size > limits.maxLayerBytes)
      throw tooLarge(`layer ${l.digest} (${l.size} bytes)`, 'maxLayerBytes', limits.maxLayerBytes);
    total += l.size;
  }
  if (total > limits.maxImageBytes)
    throw tooLarge(`the image's layers (${total} bytes)`, 'maxImageBytes', limits.maxImageBytes);
}

export async function pullImage(
  writer: ImageWriter,
  source: ImageSource,
  name: string,
  options: PullOptions = {},
): Promise<ImageInfo> {
  const ref = parseReference(name);
  const top = await fetchManifest(writer, source, ref.digest ?? canonicalName(ref), ref.digest);
  let parsed = parseManifestOrIndex(top.bytes, top.mediaType);
  for (let depth = 0; parsed.kind === 'index'; depth++) {
    const pick = pickPlatform(parsed.index);
    if (!pick || depth > 4)
      throw new ImageError('InvalidImage', `${name} has no manifest for linux/${hostArchitecture()}`);
    const child = await fetchManifest(writer, source, pick.digest, pick.digest);
    parsed = parseManifestOrIndex(child.bytes, pick.mediaType);
  }
  const m = parsed.manifest;
  checkSizes(writer.limits, m);
  await fetchBlobs(writer, source, [m.config, ...m.layers], options);
  const key = canonicalName(ref);
  await writer.tag(key, top.digest);
  return writer.load(key, top.digest);
}

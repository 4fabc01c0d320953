/** Writes images out as an OCI image layout: a directory, or the same as one tar archive. */
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { BlobStore } from './blob-store.ts';
import { digestHex } from './digest.ts';
import {
  IMAGE_NAME_ANNOTATION,
  MEDIA,
  REF_NAME_ANNOTATION,
  parseManifestOrIndex,
  type Descriptor,
  type ImageIndex,
} from './oci-types.ts';
import { parseReference } from './reference.ts';
import { writeTar, type TarWriteEntry } from './tar-writer.ts';
import type { ImageInfo } from './types.ts';

/** Every blob an image needs, manifest (or index) first. */
async function referenced(
  blobs: BlobStore,
  d: Descriptor,
  out: Map<string, Descriptor>,
  depth = 0,
): Promise<void> {
  if (out.has(d.digest)) return;
  out.set(d.digest, d);
  if (depth > 4 || d.mediaType.includes('layer') || d.mediaType.includes('config')) return;
  const parsed = parseManifestOrIndex(await blobs.readBytes(d.digest), d.mediaType);
  if (parsed.kind === 'index') {
    for (const m of parsed.index.manifests) await referenced(blobs, m, out, depth + 1);
    return;
  }
  await referenced(blobs, { ...parsed.manifest.config, mediaType: MEDIA.ociConfig }, out, depth + 1);
  for (const l of parsed.manifest.layers) await referenced(blobs, l, out, depth + 1);
}

async function layoutOf(
  blobs: BlobStore,
  images: ImageInfo[],
): Promise<{ index: ImageIndex; blobs: Descriptor[] }> {
  const manifests: Descriptor[] = [];
  const all = new Map<string, Descriptor>();
  for (const img of images) {
    const bytes = await blobs.readBytes(img.digest);
    const parsed = parseManifestOrIndex(bytes);
    const mediaType = parsed.kind === 'index' ? MEDIA.ociIndex : MEDIA.ociManifest;
    const ref = parseReference(img.name);
    const d: Descriptor = {
      mediaType: (parsed.kind === 'index' ? parsed.index.mediaType : parsed.manifest.mediaType) ?? mediaType,
      digest: img.digest,
      size: bytes.length,
      annotations: { [IMAGE_NAME_ANNOTATION]: `${ref.name}:${ref.tag}`, [REF_NAME_ANNOTATION]: ref.tag },
    };
    manifests.push(d);
    await referenced(blobs, d, all);
  }
  return { index: { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests }, blobs: [...all.values()] };
}

export async function exportLayout(blobs: BlobStore, images: ImageInfo[], dir: string): Promise<void> {
  const { index, blobs: list } = await layoutOf(blobs, images);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  for (const d of list)
    await copyFile(blobs.path(d.digest), join(dir, 'blobs', 'sha256', digestHex(d.digest)));
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(join(dir, 'index.json'), JSON.stringify(index));
}

export async function exportArchive(blobs: BlobStore, images: ImageInfo[], file: string): Promise<void> {
  const { index, blobs: list } = await layoutOf(blobs, images);
  async function* entries(): AsyncGenerator<TarWriteEntry> {
    yield {
      header: { path: 'oci-layout', type: 'file' },
      body: Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })),
    };
    yield { header: { path: 'blobs/', type: 'directory' } };
    yield { header: { path: 'blobs/sha256/', type: 'directory' } };
    for (const d of list) {
      const size = (await blobs.size(d.digest)) ?? 0;
      yield {
        header: { path: `blobs/sha256/${digestHex(d.digest)}`, type: 'file', size },
        body: createReadStream(blobs.path(d.digest)),
      };
    }
    yield { header: { path: 'index.json', type: 'file' }, body: Buffer.from(JSON.stringify(index)) };
  }
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  await pipeline(Readable.from(writeTar(entries())), createWriteStream(tmp));
  await rename(tmp, file);
}

/**
 * Imports images: an OCI image layout (directory or tar archive of one) or a `docker save`
 * tarball (manifest.json + config + layer tars; new Docker versions write an OCI layout inside).
 * Archives are read in one streaming pass: blobs go straight into the store, verified.
 */
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { BlobInfo } from './blob-store.ts';
import { detectCompression, openDecompressed } from './compression.ts';
import { digestHex, isDigest, type Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { checkJsonSize, tooLarge } from './limits.ts';
import {
  IMAGE_NAME_ANNOTATION,
  MEDIA,
  REF_NAME_ANNOTATION,
  parseImageConfig,
  parseManifestOrIndex,
  type Descriptor,
  type ImageIndex,
  type Manifest,
} from './oci-types.ts';
import { canonicalName, parseReference } from './reference.ts';
import { readTar, type TarEntry } from './tar-reader.ts';
import type { ImageInfo, ImageWriter } from './types.ts';

export interface ImportOptions {
  /** Name (name[:tag]) for the image when the archive names none, or to rename a single image. */
  name?: string;
}

function clean(p: string): string {
  return p
    .split('/')
    .filter((x) => x !== '' && x !== '.')
    .join('/');
}

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;

/** Names the index entry carries: full references, or a bare tag (needs options.name). */
function namesOf(d: Descriptor, options: ImportOptions, single: boolean): string[] {
  if (options.name !== undefined && single) return [canonicalName(parseReference(options.name))];
  const full = d.annotations?.[IMAGE_NAME_ANNOTATION];
  if (full) return [canonicalName(parseReference(full))];
  const ref = d.annotations?.[REF_NAME_ANNOTATION];
  if (ref) {
    if (/[:/]/.test(ref)) return [canonicalName(parseReference(ref))];
    if (options.name !== undefined) return [`${parseReference(options.name).name}:${ref}`];
  }
  return [];
}

/** Checks that everything a manifest/index references is in the store (recursively). */
async function checkComplete(writer: ImageWriter, d: Descriptor, depth = 0): Promise<void> {
  const size = await writer.blobs.size(d.digest);
  if (size === undefined) throw new ImageError('InvalidImage', `archive lacks blob ${d.digest}`);
  if (size !== d.size) {
    throw new ImageError('SizeMismatch', `blob ${d.digest} is ${size} bytes, descriptor says ${d.size}`);
  }
  if (depth > 4) throw new ImageError('InvalidImage', 'index nesting too deep');
  if (d.mediaType.includes('layer') || d.mediaType.includes('config') || d.mediaType.includes('rootfs'))
    return;
  const parsed = parseManifestOrIndex(
    await writer.blobs.readBytes(d.digest, writer.limits.maxJsonBytes),
    d.mediaType,
  );
  if (parsed.kind === 'index') {
    for (const m of parsed.index.manifests) await checkComplete(writer, m, depth + 1);
    return;
  }
  const m = parsed.manifest;
  await checkComplete(writer, { ...m.config, mediaType: m.config.mediaType || MEDIA.ociConfig }, depth + 1);
  for (const l of m.layers)
    await checkComplete(writer, { ...l, mediaType: l.mediaType || MEDIA.ociLayer }, depth + 1);
}

async function importIndex(
  writer: ImageWriter,
  index: ImageIndex,
  options: ImportOptions,
): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  const single = index.manifests.length === 1;
  for (const d of index.manifests) {
    await checkComplete(writer, d);
    const names = namesOf(d, options, single);
    if (names.length === 0) {
      throw new ImageError('InvalidImage', 'the archive does not name its image; give a name (name[:tag])', {
        details: { digest: d.digest },
      });
    }
    for (const n of names) {
      await writer.tag(n, d.digest);
      out.push(await writer.load(n, d.digest));
    }
  }
  return out;
}

const dockerManifestSchema = z
  .array(
    z.looseObject({
      Config: z.string().max(4096),
      RepoTags: z.array(z.string().max(1024)).max(1000).nullable().optional(),
      Layers: z.array(z.string().max(4096)).max(1000),
    }),
  )
  .max(1000);

type DockerManifestEntry = z.output<typeof dockerManifestSchema>[number];

function parseDockerManifest(bytes: Buffer): DockerManifestEntry[] {
  let v: unknown;
  try {
    v = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new ImageError('InvalidImage', 'manifest.json is not valid JSON', { cause: e });
  }
  const r = dockerManifestSchema.safeParse(v);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new ImageError(
      'InvalidImage',
      `manifest.json is not a docker-save manifest: ${first ? `${['manifest.json', ...first.path.map(String)].join('.')}: ${first.message}` : 'invalid'}`,
    );
  }
  return r.data;
}

async function importDocker(
  writer: ImageWriter,
  entries: DockerManifestEntry[],
  blobAt: (path: string) => BlobInfo | undefined,
  options: ImportOptions,
): Promise<ImageInfo[]> {
  const out: ImageInfo[] = [];
  for (const e of entries) {
    const configBlob = blobAt(e.Config);
    if (!configBlob) throw new ImageError('InvalidImage', `archive lacks ${e.Config}`);
    const config = parseImageConfig(
      await writer.blobs.readBytes(configBlob.digest, writer.limits.maxJsonBytes),
    );
    const diffIds = config.rootfs.diff_ids;
    if (diffIds.length !== e.Layers.length) {
      throw new ImageError(
        'InvalidImage',
        `${e.Config}: ${e.Layers.length} layers but ${diffIds.length} diff ids`,
      );
    }
    const layers: Descriptor[] = [];
    for (const [i, path] of e.Layers.entries()) {
      const b = blobAt(path);
      if (!b) throw new ImageError('InvalidImage', `archive lacks layer ${path}`);
      const gz = (await readFirstBytes(writer.blobs.path(b.digest))) === 'gzip';
      if (!gz && b.digest !== diffIds[i]) {
        throw new ImageError('DigestMismatch', `layer ${path} is ${b.digest}, config says ${diffIds[i]}`, {
          details: { expected: diffIds[i], actual: b.digest },
        });
      }
      layers.push({ mediaType: gz ? MEDIA.ociLayerGzip : MEDIA.ociLayer, digest: b.digest, size: b.size });
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size },
      layers,
    };
    const m = await writer.blobs.putBytes(Buffer.from(JSON.stringify(manifest)));
    let names = (e.RepoTags ?? []).map((t) => canonicalName(parseReference(t)));
    if (options.name !== undefined && entries.length === 1)
      names = [canonicalName(parseReference(options.name))];
    if (names.length === 0) {
      throw new ImageError('InvalidImage', 'the archive does not name its image; give a name (name[:tag])');
    }
    for (const n of names) {
      await writer.tag(n, m.digest);
      out.push(await writer.load(n, m.digest));
    }
  }
  return out;
}

async function readFirstBytes(path: string): Promise<'gzip' | 'other'> {
  return (await detectCompression(path)) === 'gzip' ? 'gzip' : 'other';
}

/** Imports an OCI layout tar or a docker-save tar (optionally gzip-compressed). */
export async function importArchive(
  writer: ImageWriter,
  file: string,
  options: ImportOptions = {},
): Promise<ImageInfo[]> {
  const limits = writer.limits;
  const stream = await openDecompressed(file, {
    what: `archive ${file}`,
    maxBytes: limits.maxImageBytes,
    onOver: () => tooLarge('the archive (decompressed)', 'maxImageBytes', limits.maxImageBytes),
  });
  const json = async (entry: TarEntry, what: string): Promise<Buffer> => {
    checkJsonSize(entry.header.size, what, limits);
    return entry.bytes();
  };
  const byPath = new Map<string, BlobInfo>();
  const links = new Map<string, string>();
  let indexBytes: Buffer | undefined;
  let dockerBytes: Buffer | undefined;
  try {
    for await (const entry of readTar(stream, limits)) {
      const p = clean(entry.header.path);
      if (entry.header.type === 'symlink' || entry.header.type === 'hardlink') {
        // Old docker-save archives link repeated layers to their first copy.
        const target =
          entry.header.type === 'symlink'
            ? clean(join(p, '..', entry.header.linkpath))
            : clean(entry.header.linkpath);
        links.set(p, target);
        continue;
      }
      if (entry.header.type !== 'file') continue;
      if (p === 'index.json') indexBytes = await json(entry, 'index.json');
      else if (p === 'manifest.json') dockerBytes = await json(entry, 'manifest.json');
      else {
        const m = BLOB_PATH.exec(p);
        if (m?.[1]) {
          const digest: Digest = `sha256:${m[1]}`;
          byPath.set(p, await writer.blobs.ingest(entry.body(), { digest, size: entry.header.size }));
        } else if (p.endsWith('.json') || p.endsWith('.tar') || p.endsWith('.tar.gz')) {
          byPath.set(p, await writer.blobs.ingest(entry.body(), { size: entry.header.size }));
        }
      }
    }
  } finally {
    stream.destroy();
  }
  const blobAt = (path: string): BlobInfo | undefined => {
    let p = clean(path);
    for (let i = 0; i < 8 && !byPath.has(p) && links.has(p); i++) p = links.get(p) ?? p;
    return byPath.get(p);
  };
  if (indexBytes) {
    const parsed = parseManifestOrIndex(indexBytes, MEDIA.ociIndex);
    if (parsed.kind !== 'index') throw new ImageError('InvalidImage', 'index.json is not an image index');
    return importIndex(writer, parsed.index, options);
  }
  if (dockerBytes) return importDocker(writer, parseDockerManifest(dockerBytes), blobAt, options);
  throw new ImageError('InvalidImage', `${file} is neither an OCI image archive nor a docker-save archive`);
}

async function copyReferenced(writer: ImageWriter, dir: string, d: Descriptor, depth = 0): Promise<void> {
  if (!isDigest(d.digest)) throw new ImageError('InvalidImage', `bad digest ${String(d.digest)}`);
  const path = join(dir, 'blobs', 'sha256', digestHex(d.digest));
  if (!(await writer.blobs.has(d.digest))) {
    await writer.blobs.ingest(createReadStream(path), { digest: d.digest, size: d.size });
  }
  if (depth > 4 || d.mediaType.includes('layer') || d.mediaType.includes('config')) return;
  const parsed = parseManifestOrIndex(
    await writer.blobs.readBytes(d.digest, writer.limits.maxJsonBytes),
    d.mediaType,
  );
  if (parsed.kind === 'index') {
    for (const m of parsed.index.manifests) await copyReferenced(writer, dir, m, depth + 1);
    return;
  }
  await copyReferenced(writer, dir, { ...parsed.manifest.config, mediaType: MEDIA.ociConfig }, depth + 1);
  for (const l of parsed.manifest.layers)
    await copyReferenced(writer, dir, { ...l, mediaType: l.mediaType || MEDIA.ociLayer }, depth + 1);
}

/** Imports an OCI image layout directory (oci-layout, index.json, blobs/). */
export async function importLayout(
  writer: ImageWriter,
  dir: string,
  options: ImportOptions = {},
): Promise<ImageInfo[]> {
  let indexBytes: Buffer;
  try {
    checkJsonSize((await stat(join(dir, 'index.json'))).size, 'index.json', writer.limits);
    indexBytes = await readFile(join(dir, 'index.json'));
  } catch (e) {
    if (e instanceof ImageError) throw e;
    throw new ImageError('InvalidImage', `${dir} is not an OCI image layout (no index.json)`, { cause: e });
  }
  const parsed = parseManifestOrIndex(indexBytes, MEDIA.ociIndex);
  if (parsed.kind !== 'index') throw new ImageError('InvalidImage', 'index.json is not an image index');
  for (const d of parsed.index.manifests) await copyReferenced(writer, dir, d);
  return importIndex(writer, parsed.index, options);
}

/** Imports a layout directory or an archive file, whichever `path` is. */
export async function importPath(
  writer: ImageWriter,
  path: string,
  options: ImportOptions = {},
): Promise<ImageInfo[]> {
  const s = await stat(path);
  return s.isDirectory() ? importLayout(writer, path, options) : importArchive(writer, path, options);
}

/** Packs a root filesystem directory as a one-layer OCI image. */
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { hashDigest, newHash } from './digest.ts';
import { ImageError } from './errors.ts';
import { DEFAULT_PATH } from './load-image.ts';
import { MEDIA, hostArchitecture, type ImageConfig, type Manifest } from './oci-types.ts';
import { canonicalName, parseReference } from './reference.ts';
import { directoryEntries, writeTar } from './tar-writer.ts';
import type { ImageInfo, ImageWriter } from './types.ts';

export interface CreateImageOptions {
  /** Default command (image Cmd). Default ["sh"]. */
  cmd?: string[];
  entrypoint?: string[];
  /** Default environment; PATH is added when missing. */
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  /** Ports the image says it listens on (documentation only). */
  exposedPorts?: number[];
  labels?: Record<string, string>;
  /** gzip the layer (default true). */
  compress?: boolean;
  /** Creation time recorded in the config (default now). */
  created?: Date;
  /** Record every file as owned by this uid/gid (e.g. 0:0 for a tree built by another user). */
  owner?: { uid: number; gid: number };
  /** Record every file with this mtime (with a fixed `created` too, the image is reproducible). */
  mtime?: Date;
}

export async function createImageFromDir(
  writer: ImageWriter,
  name: string,
  dir: string,
  options: CreateImageOptions = {},
): Promise<ImageInfo> {
  const ref = parseReference(name);
  const st = await stat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new ImageError('InvalidImage', `${dir} is not a directory`);

  const diffHash = newHash();
  async function* tarBytes(): AsyncGenerator<Buffer> {
    for await (const chunk of writeTar(
      directoryEntries(dir, {
        ...(options.owner ? { owner: options.owner } : {}),
        ...(options.mtime ? { mtime: Math.floor(options.mtime.getTime() / 1000) } : {}),
      }),
    )) {
      diffHash.update(chunk);
      yield chunk;
    }
  }
  const compress = options.compress ?? true;
  let layerSource: AsyncIterable<Uint8Array>;
  if (compress) {
    const src = Readable.from(tarBytes());
    const gz = createGzip({ level: 6 });
    src.on('error', (e) => gz.destroy(e));
    layerSource = src.pipe(gz);
  } else {
    layerSource = tarBytes();
  }
  const layer = await writer.blobs.ingest(layerSource);
  const diffId = hashDigest(diffHash);

  const created = (options.created ?? new Date()).toISOString();
  const env = { PATH: DEFAULT_PATH, ...options.env };
  const config: ImageConfig = {
    created,
    architecture: hostArchitecture(),
    os: 'linux',
    config: {
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      Cmd: options.cmd ?? ['sh'],
      WorkingDir: options.workingDir ?? '/',
      ...(options.entrypoint ? { Entrypoint: options.entrypoint } : {}),
      ...(options.user ? { User: options.user } : {}),
      ...(options.labels ? { Labels: options.labels } : {}),
      ...(options.exposedPorts?.length
        ? { ExposedPorts: Object.fromEntries(options.exposedPorts.map((p) => [`${p}/tcp`, {}])) }
        : {}),
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created, created_by: `dabba image create ${canonicalName(ref)} --from-dir` }],
  };
  const configBlob = await writer.blobs.putBytes(Buffer.from(JSON.stringify(config)));
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: configBlob.digest, size: configBlob.size },
    layers: [
      { mediaType: compress ? MEDIA.ociLayerGzip : MEDIA.ociLayer, digest: layer.digest, size: layer.size },
    ],
  };
  const m = await writer.blobs.putBytes(Buffer.from(JSON.stringify(manifest)));
  const key = canonicalName(ref);
  await writer.tag(key, m.digest);
  return writer.load(key, m.digest);
}

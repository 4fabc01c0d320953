/** Reads an image (manifest, config) from the blob store, and the run defaults its config carries. */
import type { BlobStore } from './blob-store.ts';
import type { Digest } from './digest.ts';
import { ImageError } from './errors.ts';
import { DEFAULT_LIMITS, type ImageLimits } from './limits.ts';
import { hostArchitecture, parseImageConfig, parseManifestOrIndex, pickPlatform } from './oci-types.ts';
import type { ImageDefaults, ImageInfo } from './types.ts';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function loadImage(
  blobs: BlobStore,
  name: string,
  digest: Digest,
  limits: ImageLimits = DEFAULT_LIMITS,
): Promise<ImageInfo> {
  const max = limits.maxJsonBytes;
  let manifestDigest = digest;
  let parsed = parseManifestOrIndex(await blobs.readBytes(digest, max));
  for (let depth = 0; parsed.kind === 'index'; depth++) {
    const pick = pickPlatform(parsed.index);
    if (!pick || depth > 4) {
      throw new ImageError('InvalidImage', `image ${name} has no manifest for linux/${hostArchitecture()}`);
    }
    manifestDigest = pick.digest;
    parsed = parseManifestOrIndex(await blobs.readBytes(pick.digest, max), pick.mediaType);
  }
  const manifest = parsed.manifest;
  const config = parseImageConfig(await blobs.readBytes(manifest.config.digest, max));
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new ImageError(
      'InvalidImage',
      `image ${name}: ${manifest.layers.length} layers but ${config.rootfs.diff_ids.length} diff ids`,
    );
  }
  const size = manifest.config.size + manifest.layers.reduce((a, l) => a + l.size, 0);
  const info: ImageInfo = {
    name,
    digest,
    manifestDigest,
    manifest,
    configDigest: manifest.config.digest,
    config,
    size,
  };
  if (config.created !== undefined) info.created = config.created;
  return info;
}

/** Entrypoint+Cmd, Env (as a map, PATH defaulted), WorkingDir and User from the image config. */
export function imageDefaults(image: Pick<ImageInfo, 'config'>): ImageDefaults {
  const c = image.config.config ?? {};
  const env: Record<string, string> = {};
  for (const kv of c.Env ?? []) {
    const eq = kv.indexOf('=');
    if (eq > 0) env[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  env['PATH'] ??= DEFAULT_PATH;
  return {
    args: [...(c.Entrypoint ?? []), ...(c.Cmd ?? [])],
    env,
    workingDir: c.WorkingDir || '/',
    user: c.User ?? '',
  };
}

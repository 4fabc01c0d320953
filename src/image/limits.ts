/**
 * Bounds on what an image may make the store read, expand or create. Images come from users and
 * registries, so every size that a hostile archive could make unbounded (a gzip bomb, millions of
 * entries, a 100 MB "file name" in a pax header, a 1 GB manifest) has a ceiling here; going over it
 * is an ImageError with reason TooLarge (code DABBA_E_IMAGE_TOO_LARGE) that names the bound and the
 * environment variable that raises it.
 */
import { ImageError } from './errors.ts';

export interface ImageLimits {
  /** Decompressed bytes of one layer (the tar stream). */
  maxLayerBytes: number;
  /** Decompressed bytes of all layers unpacked for one image at once, and of one import archive. */
  maxImageBytes: number;
  /** Entries in one layer or archive. */
  maxEntries: number;
  /** Bytes of one entry path. */
  maxPathBytes: number;
  /** Bytes of one symlink or hard link target. */
  maxLinkBytes: number;
  /** Bytes of one pax or GNU long-name/long-link header body. */
  maxMetaBytes: number;
  /** Bytes of one manifest, index, image config or docker-save manifest.json. */
  maxJsonBytes: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

export const DEFAULT_LIMITS: ImageLimits = {
  maxLayerBytes: 16 * GiB,
  maxImageBytes: 64 * GiB,
  maxEntries: 1_000_000,
  maxPathBytes: 4096,
  maxLinkBytes: 4096,
  maxMetaBytes: 1 * MiB,
  maxJsonBytes: 4 * MiB,
};

/** The environment variable that overrides each bound (a positive integer, bytes or a count). */
export const LIMIT_ENV: Record<keyof ImageLimits, string> = {
  maxLayerBytes: 'DABBA_IMAGE_MAX_LAYER_BYTES',
  maxImageBytes: 'DABBA_IMAGE_MAX_IMAGE_BYTES',
  maxEntries: 'DABBA_IMAGE_MAX_ENTRIES',
  maxPathBytes: 'DABBA_IMAGE_MAX_PATH_BYTES',
  maxLinkBytes: 'DABBA_IMAGE_MAX_LINK_BYTES',
  maxMetaBytes: 'DABBA_IMAGE_MAX_META_BYTES',
  maxJsonBytes: 'DABBA_IMAGE_MAX_JSON_BYTES',
};

/** Explicit overrides, then the environment, then the defaults. A bad environment value is an error. */
export function resolveLimits(
  overrides: Partial<ImageLimits> = {},
  env: NodeJS.ProcessEnv = process.env,
): ImageLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of Object.keys(DEFAULT_LIMITS) as (keyof ImageLimits)[]) {
    const text = env[LIMIT_ENV[key]];
    if (text !== undefined && text !== '') {
      const n = Number(text);
      if (!Number.isSafeInteger(n) || n <= 0) {
        throw new ImageError('InvalidImage', `${LIMIT_ENV[key]}="${text}" is not a positive integer`);
      }
      out[key] = n;
    }
    const o = overrides[key];
    if (o !== undefined) out[key] = o;
  }
  return out;
}

/** The error for a bound gone over: what, the bound, and how to raise it. */
export function tooLarge(what: string, key: keyof ImageLimits, limit: number): ImageError {
  return new ImageError(
    'TooLarge',
    `${what} is over the limit of ${limit} (${key}; raise it with ${LIMIT_ENV[key]})`,
    { details: { limit, bound: key } },
  );
}

/** Throws when `bytes` is over the JSON bound (manifests, configs, indexes). */
export function checkJsonSize(bytes: number, what: string, limits: ImageLimits): void {
  if (bytes > limits.maxJsonBytes)
    throw tooLarge(`${what} (${bytes} bytes)`, 'maxJsonBytes', limits.maxJsonBytes);
}

/** Counts bytes flowing through an async iterable, failing once they go over `limit`. */
export async function* bounded(
  source: AsyncIterable<Buffer>,
  limit: number,
  onOver: () => ImageError,
): AsyncGenerator<Buffer> {
  let total = 0;
  for await (const chunk of source) {
    total += chunk.length;
    if (total > limit) throw onOver();
    yield chunk;
  }
}

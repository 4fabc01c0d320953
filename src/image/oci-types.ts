/** The parts of the OCI image spec (and Docker's equivalents) the store reads and writes. */
import { z } from 'zod';
import type { Digest } from './digest.ts';
import { isDigest } from './digest.ts';
import { ImageError } from './errors.ts';

export const MEDIA = {
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
} as const;

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
/** containerd/BuildKit put the full reference here in OCI archives. */
export const IMAGE_NAME_ANNOTATION = 'io.containerd.image.name';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string; variant?: string };
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

/** The runtime defaults an image carries (the "config" member of the image config). */
export interface ImageRunConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  ExposedPorts?: Record<string, object>;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
}

export interface ImageConfig {
  created?: string;
  architecture: string;
  os: string;
  config?: ImageRunConfig;
  rootfs: { type: 'layers'; diff_ids: Digest[] };
  history?: { created?: string; created_by?: string; empty_layer?: boolean; comment?: string }[];
}

// ---- validation: every manifest, index and config is checked against a schema before use ----

const digestSchema = z.string().refine(isDigest, { message: 'not a sha256 digest (sha256:<64 hex>)' });
const annotationsSchema = z.record(z.string(), z.string());
const stringList = z.array(z.string().max(64 * 1024)).max(10_000);

const descriptorSchema = z.looseObject({
  mediaType: z.string().max(255).optional(),
  digest: digestSchema,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  annotations: annotationsSchema.optional(),
  platform: z
    .looseObject({
      architecture: z.string().max(64),
      os: z.string().max(64),
      variant: z.string().max(64).optional(),
    })
    .optional(),
  urls: z.array(z.string()).optional(),
});

const manifestSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().max(255).optional(),
  config: descriptorSchema,
  layers: z.array(descriptorSchema).max(1000),
  annotations: annotationsSchema.optional(),
});

const indexSchema = z.looseObject({
  schemaVersion: z.literal(2),
  mediaType: z.string().max(255).optional(),
  manifests: z.array(descriptorSchema).max(1000),
  annotations: annotationsSchema.optional(),
});

const runConfigSchema = z.looseObject({
  User: z.string().max(1024).optional(),
  Env: stringList.nullable().optional(),
  Entrypoint: stringList.nullable().optional(),
  Cmd: stringList.nullable().optional(),
  WorkingDir: z.string().max(4096).optional(),
  ExposedPorts: z.record(z.string(), z.unknown()).nullable().optional(),
  Labels: z.record(z.string(), z.string()).nullable().optional(),
  StopSignal: z.string().max(64).optional(),
});

const configSchema = z.looseObject({
  created: z.string().optional(),
  architecture: z.string().max(64).optional(),
  os: z.string().max(64).optional(),
  config: runConfigSchema.nullable().optional(),
  rootfs: z.looseObject({ type: z.string(), diff_ids: z.array(digestSchema).max(1000) }),
  history: z.array(z.unknown()).optional(),
});

function fail(message: string): never {
  throw new ImageError('InvalidImage', message);
}

function parseJson(bytes: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  } catch (e) {
    throw new ImageError('InvalidImage', `${what} is not valid JSON`, { cause: e });
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Checks `v` against a schema; the error lists the first problems with their field paths. */
function check<S extends z.ZodType>(schema: S, v: unknown, what: string): z.output<S> {
  const r = schema.safeParse(v);
  if (r.success) return r.data;
  const problems = r.error.issues
    .slice(0, 5)
    .map((i) => `${[what, ...i.path.map(String)].join('.')}: ${i.message}`)
    .join('; ');
  fail(`invalid ${what}: ${problems}`);
}

function toDescriptor(d: z.output<typeof descriptorSchema>): Descriptor {
  return { ...d, mediaType: d.mediaType ?? '', digest: d.digest } as Descriptor;
}

export function checkDescriptor(v: unknown, what: string): Descriptor {
  return toDescriptor(check(descriptorSchema, v, what));
}

/** A manifest or an index, told apart by media type or shape. */
export type ManifestOrIndex = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: ImageIndex };

export function parseManifestOrIndex(bytes: Uint8Array, mediaTypeHint?: string): ManifestOrIndex {
  const v = parseJson(bytes, 'manifest');
  if (!isObject(v)) fail('manifest is not a JSON object');
  const mt = typeof v['mediaType'] === 'string' ? v['mediaType'] : (mediaTypeHint ?? '');
  if ('manifests' in v || mt === MEDIA.ociIndex || mt === MEDIA.dockerManifestList) {
    const index = check(indexSchema, v, 'index');
    return {
      kind: 'index',
      index: { ...(index as unknown as ImageIndex), manifests: index.manifests.map(toDescriptor) },
    };
  }
  const m = check(manifestSchema, v, 'manifest');
  return {
    kind: 'manifest',
    manifest: {
      ...(m as unknown as Manifest),
      config: toDescriptor(m.config),
      layers: m.layers.map(toDescriptor),
    },
  };
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const v = parseJson(bytes, 'image config');
  if (!isObject(v)) fail('image config is not a JSON object');
  return check(configSchema, v, 'image config') as unknown as ImageConfig;
}

/** The architecture name images use for this machine. */
export function hostArchitecture(): string {
  switch (process.arch) {
    case 'x64':
      return 'amd64';
    case 'arm64':
      return 'arm64';
    case 'arm':
      return 'arm';
    default:
      return process.arch;
  }
}

/** Picks the manifest for this platform out of an index (or the only one there is). */
export function pickPlatform(index: ImageIndex): Descriptor | undefined {
  const arch = hostArchitecture();
  const candidates = index.manifests.filter(
    (d) => d.mediaType !== MEDIA.ociIndex && d.mediaType !== MEDIA.dockerManifestList,
  );
  const exact = candidates.find((d) => d.platform?.os === 'linux' && d.platform.architecture === arch);
  if (exact) return exact;
  const untagged = candidates.filter((d) => d.platform === undefined);
  if (untagged.length >= 1) return untagged[0];
  return undefined;
}

export function isLayerMediaTypeSupported(mediaType: string): boolean {
  return !mediaType.includes('zstd') && !mediaType.includes('nondistributable');
}

/** The parts of the OCI image spec (and Docker's equivalents) the store reads and writes. */
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

export function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) fail(`${what}: descriptor is not an object`);
  const { mediaType, digest, size } = v;
  if (typeof digest !== 'string' || !isDigest(digest)) fail(`${what}: bad digest ${String(digest)}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail(`${what}: bad size`);
  return { ...(v as unknown as Descriptor), mediaType: typeof mediaType === 'string' ? mediaType : '' };
}

/** A manifest or an index, told apart by media type or shape. */
export type ManifestOrIndex = { kind: 'manifest'; manifest: Manifest } | { kind: 'index'; index: ImageIndex };

export function parseManifestOrIndex(bytes: Uint8Array, mediaTypeHint?: string): ManifestOrIndex {
  const v = parseJson(bytes, 'manifest');
  if (!isObject(v)) fail('manifest is not an object');
  const mt = typeof v['mediaType'] === 'string' ? v['mediaType'] : (mediaTypeHint ?? '');
  if (Array.isArray(v['manifests']) || mt === MEDIA.ociIndex || mt === MEDIA.dockerManifestList) {
    if (!Array.isArray(v['manifests'])) fail('index has no manifests');
    const manifests = v['manifests'].map((d, i) => checkDescriptor(d, `index.manifests[${i}]`));
    return { kind: 'index', index: { ...(v as unknown as ImageIndex), manifests } };
  }
  if (!isObject(v['config']) || !Array.isArray(v['layers'])) fail('manifest needs config and layers');
  const config = checkDescriptor(v['config'], 'manifest.config');
  const layers = v['layers'].map((d, i) => checkDescriptor(d, `manifest.layers[${i}]`));
  return { kind: 'manifest', manifest: { ...(v as unknown as Manifest), config, layers } };
}

export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const v = parseJson(bytes, 'image config');
  if (!isObject(v)) fail('image config is not an object');
  const rootfs = v['rootfs'];
  if (!isObject(rootfs) || !Array.isArray(rootfs['diff_ids'])) fail('image config has no rootfs.diff_ids');
  for (const d of rootfs['diff_ids']) {
    if (typeof d !== 'string' || !isDigest(d)) fail(`image config: bad diff id ${String(d)}`);
  }
  return v as unknown as ImageConfig;
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

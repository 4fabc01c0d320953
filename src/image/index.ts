export { ImageStore, type RootfsMount } from './image-store.ts';
export type { ImageDefaults, ImageInfo, ImageSource, ImageSummary, ManifestBytes } from './types.ts';
export type { CreateImageOptions } from './create-from-dir.ts';
export type { ImportOptions } from './import.ts';
export type { PullOptions } from './pull.ts';
export { ImageError, type ImageErrorReason } from './errors.ts';
export { isDigest, sha256Digest, chainIds, type Digest } from './digest.ts';
export { BlobStore, type BlobInfo } from './blob-store.ts';
export { parseReference, canonicalName, normalizeReference, type ImageReference } from './reference.ts';
export { imageDefaults, DEFAULT_PATH } from './load-image.ts';
export {
  MEDIA,
  type Descriptor,
  type Manifest,
  type ImageIndex,
  type ImageConfig,
  type ImageRunConfig,
} from './oci-types.ts';
export { readTar, type TarEntry } from './tar-reader.ts';
export { writeTar, directoryEntries, type TarWriteEntry } from './tar-writer.ts';
export { isMountPoint, mountPoints } from './overlay.ts';
export type { CommandRunner, CommandResult } from './run-command.ts';
export {
  BUILTIN_IMAGES,
  HELLO_PORT,
  buildBusyboxRootfs,
  buildHelloRootfs,
  createBuiltinImage,
  findBusybox,
  type BuiltinImage,
} from './builtin-images.ts';

/** Public types of the image store. */
import type { BlobInfo, BlobStore } from './blob-store.ts';
import type { Digest } from './digest.ts';
import type { ImageLimits } from './limits.ts';
import type { ImageConfig, Manifest } from './oci-types.ts';

/** An image as the store knows it. */
export interface ImageInfo {
  /** "name:tag" it was looked up by (or the digest reference). */
  name: string;
  /** Digest the name points at (a manifest, or an index for multi-platform images). */
  digest: Digest;
  /** Digest of this platform's manifest. */
  manifestDigest: Digest;
  manifest: Manifest;
  configDigest: Digest;
  config: ImageConfig;
  /** Bytes of config and layers as stored (compressed sizes). */
  size: number;
  created?: string;
}

/** What a task runs by default, from the image config. */
export interface ImageDefaults {
  /** Entrypoint followed by Cmd. */
  args: string[];
  env: Record<string, string>;
  workingDir: string;
  user: string;
}

export interface ImageSummary {
  name: string;
  digest: Digest;
  size: number;
  created?: string;
  layers: number;
}

/**
 * Where pullFrom fetches an image. Over HTTP: manifest(ref) is a GET returning the manifest bytes
 * (and its media type / digest headers); blob(digest, offset) is a GET with "Range: bytes=OFFSET-"
 * returning the response body (a web ReadableStream is an AsyncIterable in Node).
 */
export interface ImageSource {
  /** The manifest (or index) a reference names: "name[:tag]" or a digest. */
  manifest(ref: string): Promise<{ bytes: Uint8Array; mediaType?: string; digest?: string }>;
  /** The blob's bytes from `offset` to its end. */
  blob(digest: Digest, offset: number): Promise<AsyncIterable<Uint8Array>>;
}

/** The manifest bytes a server hands out for a reference. */
export interface ManifestBytes {
  digest: Digest;
  mediaType: string;
  bytes: Buffer;
}

/** What importers need from the store (kept apart so they do not import the store class). */
export interface ImageWriter {
  readonly blobs: BlobStore;
  readonly limits: ImageLimits;
  tag(name: string, digest: Digest): Promise<void>;
  load(name: string, digest: Digest): Promise<ImageInfo>;
}

export type { BlobInfo };

/** Content digests: "sha256:<64 hex>". Every blob in the store is named by one and verified against it. */
import { createHash, type Hash } from 'node:crypto';

export type Digest = `sha256:${string}`;

const DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: string): value is Digest {
  return DIGEST.test(value);
}

/** The hex part of a digest (what names the blob file). */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

export function sha256Digest(bytes: Uint8Array | string): Digest {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function newHash(): Hash {
  return createHash('sha256');
}

export function hashDigest(hash: Hash): Digest {
  return `sha256:${hash.digest('hex')}`;
}

/**
 * Chain ids of a layer stack (OCI image spec): the first is the first diff id, each next one is
 * sha256(parent + " " + diffId). A chain id names a layer together with everything below it, so an
 * unpacked layer directory keyed by it can be shared by every image with the same base.
 */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const parent = out[out.length - 1];
    out.push(parent === undefined ? d : sha256Digest(`${parent} ${d}`));
  }
  return out;
}

/**
 * The API client's image methods: list, import, create and remove images, and the source agents
 * pull from.
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import { DabbaError } from '../errors/index.ts';
import type { ImageRemoval } from '../model/index.ts';
import { parseResponse } from './responses.ts';
import { IdentityMethods } from './identity-methods.ts';

export class ImageMethods extends IdentityMethods {
  // Images
  listImages(): Promise<{ name: string; digest: string; size: number; created?: string; layers: number }[]> {
    return this.requestJson('GET', '/v1/images');
  }
  /** Uploads an OCI archive or `docker save` tarball. */
  importImage(tar: AsyncIterable<Uint8Array>, name?: string): Promise<{ name: string; digest: string }[]> {
    const q = name === undefined ? '' : `?name=${encodeURIComponent(name)}`;
    return this.requestJson('POST', `/v1/images/import${q}`, {
      raw: { stream: tar, contentType: 'application/x-tar' },
      stream: true,
    });
  }
  /** Uploads a tar of a root filesystem, packed by the server as a one-layer OCI image. */
  createImage(name: string, tar: AsyncIterable<Uint8Array>): Promise<{ name: string; digest: string }> {
    return this.requestJson('POST', `/v1/images/create?name=${encodeURIComponent(name)}`, {
      raw: { stream: tar, contentType: 'application/x-tar' },
      stream: true,
    });
  }
  /** Removes an image's name and the content only it used (`force`: even if a live job uses it). */
  removeImage(name: string, options: { force?: boolean } = {}): Promise<ImageRemoval> {
    const q = options.force ? '?force=1' : '';
    return this.requestJson('DELETE', `/v1/images/${encodeURIComponent(name)}${q}`);
  }

  /** Where an agent fetches images from: manifests by reference, blobs by digest (resumable). */
  imageSource(): {
    manifest(ref: string): Promise<{ bytes: Uint8Array; mediaType?: string; digest?: string }>;
    blob(digest: string, offset: number): Promise<AsyncIterable<Uint8Array>>;
  } {
    return {
      manifest: async (ref) => {
        const res = await this.request('GET', `/v1/images/manifests/${encodeURIComponent(ref)}`);
        if (!res.ok) {
          await parseResponse(res);
        }
        const out: { bytes: Uint8Array; mediaType?: string; digest?: string } = {
          bytes: new Uint8Array(await res.arrayBuffer()),
        };
        const type = res.headers.get('content-type');
        const digest = res.headers.get('docker-content-digest');
        if (type) out.mediaType = type;
        if (digest) out.digest = digest;
        return out;
      },
      blob: async (digest, offset) => {
        const res = await this.request('GET', `/v1/images/blobs/${encodeURIComponent(digest)}`, {
          stream: true,
          ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
        });
        if (!res.ok || !res.body) {
          await parseResponse(res);
          throw new DabbaError('DABBA_E_INTERNAL', `blob ${digest}: empty answer`);
        }
        if (offset > 0 && res.status !== 206) {
          await res.body.cancel();
          throw new DabbaError('DABBA_E_INTERNAL', `server ignored the range request for blob ${digest}`);
        }
        return res.body as AsyncIterable<Uint8Array>;
      },
    };
  }
}

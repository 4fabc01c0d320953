/** Makes sure a task's image is on this host before it starts: fetched from the server once. */
import type { DabbaClient } from '../client/index.ts';
import { DabbaError, RuntimeError, messageOf, storageFaultOf } from '../errors/index.ts';
import type { ImageStore } from '../image/index.ts';
import { describeSpace, diskSpaceSync, type Logger } from '../lib/index.ts';

export class ImagePuller {
  readonly #images: ImageStore;
  readonly #client: DabbaClient;
  readonly #logger: Logger;
  readonly #inflight = new Map<string, Promise<void>>();

  constructor(images: ImageStore, client: DabbaClient, logger: Logger) {
    this.#images = images;
    this.#client = client;
    this.#logger = logger;
  }

  /** Resolves when `ref` is in the local store; rejects with a RuntimeError naming the reason. */
  ensure(ref: string): Promise<void> {
    const running = this.#inflight.get(ref);
    if (running) return running;
    const p = this.#ensure(ref).finally(() => this.#inflight.delete(ref));
    this.#inflight.set(ref, p);
    return p;
  }

  async #ensure(ref: string): Promise<void> {
    if (await this.#images.get(ref)) return;
    const started = Date.now();
    try {
      await this.#images.pullFrom(this.#client.imageSource(), ref);
      this.#logger.info({ image: ref, ms: Date.now() - started }, 'image pulled from the server');
    } catch (e) {
      const notFound = e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND';
      const fault = storageFaultOf(e);
      if (fault === 'full' || fault === 'read-only') {
        const where = this.#images.dir;
        throw new RuntimeError(
          fault === 'full'
            ? `could not store image "${ref}" on this host: no space left in ${where} (${describeSpace(diskSpaceSync(where))})`
            : `could not store image "${ref}" on this host: ${where} is on a read-only file system`,
          {
            cause: e,
            details: { reason: fault === 'full' ? 'DiskFull' : 'DiskReadOnly', image: ref, where },
          },
        );
      }
      throw new RuntimeError(
        notFound
          ? `image "${ref}" not found on the server (import it: dabba image import FILE)`
          : `could not fetch image "${ref}" from the server: ${messageOf(e)}`,
        { cause: e, details: { reason: notFound ? 'ImageNotFound' : 'ImagePullFailed', image: ref } },
      );
    }
  }
}

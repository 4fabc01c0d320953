/**
 * The cluster's image names, in the store (/images/NAME): what every server replica serves, whichever
 * replica received the image. A record holds the digest and the summary `dabba image ls` shows; the
 * blobs stay in the replicas' own image stores (fetched from one another, see shared-images.ts).
 * `dabba image rm` leaves a tombstone (the record with `removed`) rather than deleting the key, so a
 * replica that was down then still learns that its copy is gone, and does not publish it again.
 */
import {
  canonicalName,
  parseReference,
  type Digest,
  type ImageInfo,
  type ImageSummary,
} from '../../image/index.ts';
import type { Clock } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';

export interface ImageRecord extends ImageSummary {
  /** When the name was given this digest (ms). */
  createdAt: number;
  /** The replica that received it. */
  by: string;
  /** Set by `dabba image rm`: the name is gone; replicas holding `digest` under it drop it. */
  removed?: { at: number; by: string };
}

export function summaryOf(info: ImageInfo): ImageSummary {
  const s: ImageSummary = {
    name: info.name,
    digest: info.digest,
    size: info.size,
    layers: info.manifest.layers.length,
  };
  if (info.created !== undefined) s.created = info.created;
  return s;
}

function parse(value: string): ImageRecord | undefined {
  try {
    const r = JSON.parse(value) as ImageRecord;
    return typeof r.name === 'string' && typeof r.digest === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

export class ImageCatalog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #replicaId: string;

  constructor(store: Store, clock: Clock, replicaId: string) {
    this.#store = store;
    this.#clock = clock;
    this.#replicaId = replicaId;
  }

  /** The record of a name (NAME[:TAG], canonicalised), tombstones included. */
  async get(name: string): Promise<ImageRecord | undefined> {
    const kv = await this.#store.get(keys.image(canonicalName(parseReference(name))));
    return kv === undefined ? undefined : parse(kv.value);
  }

  /** Every record, tombstones included, by name. */
  async all(): Promise<ImageRecord[]> {
    const { kvs } = await this.#store.range(keys.imagesPrefix);
    return kvs.flatMap((kv) => parse(kv.value) ?? []);
  }

  /** The images the cluster has (no tombstones), sorted by name. */
  async list(): Promise<ImageSummary[]> {
    return (await this.all())
      .filter((r) => r.removed === undefined)
      .map(({ name, digest, size, layers, created }) => ({
        name,
        digest,
        size,
        layers,
        ...(created === undefined ? {} : { created }),
      }));
  }

  /**
   * Records that `info` (stored on this replica) is the image its name names. `onlyIfAbsent`: only
   * when the name has no record at all (an image found in the local store, never published).
   */
  async publish(info: ImageInfo, onlyIfAbsent = false): Promise<boolean> {
    const record: ImageRecord = { ...summaryOf(info), createdAt: this.#clock.now(), by: this.#replicaId };
    const key = keys.image(info.name);
    if (!onlyIfAbsent) {
      await this.#store.put(key, JSON.stringify(record));
      return true;
    }
    const r = await this.#store.txn({
      compare: [{ key, target: 'create', op: '=', createRevision: 0 }],
      success: [{ type: 'put', key, value: JSON.stringify(record) }],
    });
    return r.succeeded;
  }

  /** Marks a name removed (a tombstone naming the digest it had). */
  async remove(record: ImageRecord): Promise<void> {
    const tomb: ImageRecord = { ...record, removed: { at: this.#clock.now(), by: this.#replicaId } };
    await this.#store.put(keys.image(record.name), JSON.stringify(tomb));
  }
}

/** The digest a live record gives a reference, if the reference is a name (not a digest). */
export function liveDigest(record: ImageRecord | undefined): Digest | undefined {
  return record === undefined || record.removed !== undefined ? undefined : record.digest;
}

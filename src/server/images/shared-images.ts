/**
 * The images of the cluster as one server replica serves them. Names live in the store (catalog.ts),
 * shared by every replica; content lives in each replica's own image store. A replica serving an
 * image it lacks fetches it from a peer that has it (verified by digest, then kept), and every
 * replica also copies each new image as soon as its record appears (the store's watch), so an
 * image survives the replica that received it. `dabba image rm` leaves a tombstone: each replica
 * drops its copy when it sees it (at once through the watch, or at its next pass if it was down).
 */
import { DabbaError, messageOf } from '../../errors/index.ts';
import {
  canonicalName,
  isDigest,
  parseReference,
  type Digest,
  type ImageInfo,
  type ImageStore,
  type ImageSummary,
  type ManifestBytes,
} from '../../image/index.ts';
import { sleep, type Clock, type Logger } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { ImageCatalog, liveDigest, type ImageRecord } from './catalog.ts';
import { peerSource, type PeerCredential, type Peer, type PeerSourceOptions } from './peer-source.ts';

export interface SharedImagesOptions {
  local: ImageStore;
  store: Store;
  clock: Clock;
  replicaId: string;
  logger: Logger;
  /** The other live replicas (empty with one). */
  peers: () => Promise<Peer[]>;
  /** This replica's credential towards its peers (shared with the autoscaler's metrics reads). */
  credential: PeerCredential;
  /** The cluster CA (PEM) when the API runs over TLS. */
  caPem?: string;
  /** Full passes besides the ones the watch triggers (ms, default 30,000). */
  syncIntervalMs?: number;
}

export interface SyncPass {
  fetched: string[];
  dropped: string[];
  published: string[];
  failed: { name: string; error: string }[];
}

export class SharedImages {
  readonly local: ImageStore;
  readonly catalog: ImageCatalog;
  readonly #o: SharedImagesOptions;
  readonly #source: PeerSourceOptions;
  readonly #credential: PeerCredential;
  readonly #inflight = new Map<string, Promise<void>>();
  #wake: () => void = () => undefined;

  constructor(o: SharedImagesOptions) {
    this.#o = o;
    this.local = o.local;
    this.catalog = new ImageCatalog(o.store, o.clock, o.replicaId);
    this.#credential = o.credential;
    this.#source = {
      peers: o.peers,
      credential: this.#credential,
      ...(o.caPem === undefined ? {} : { caPem: o.caPem }),
    };
  }

  /**
   * The digest a reference names in the cluster: a name by its record (a removed name is unknown
   * even where a copy is left), unless this replica tagged it since (a push being published), else
   * by this replica's store (an image not yet published); a digest if this replica has it or a
   * record names it.
   */
  async resolve(ref: string): Promise<Digest | undefined> {
    const digest = isDigest(ref) ? ref : parseReference(ref).digest;
    if (digest !== undefined) {
      if ((await this.local.resolve(digest)) !== undefined) return digest;
      return (await this.catalog.all()).some((r) => r.removed === undefined && r.digest === digest)
        ? digest
        : undefined;
    }
    const record = await this.catalog.get(ref);
    if (record === undefined) return this.local.resolve(ref);
    // Tagged here after the record was written: a push to this replica, about to be published.
    const name = canonicalName(parseReference(ref));
    const mine = (await this.local.tagged()).find((t) => t.name === name);
    if (mine !== undefined && mine.createdAt > (record.removed?.at ?? record.createdAt)) return mine.digest;
    return liveDigest(record);
  }

  /** Makes sure this replica holds the image `ref` names (fetching it from a peer); its digest. */
  async ensure(ref: string): Promise<Digest | undefined> {
    const digest = await this.resolve(ref);
    if (digest === undefined) return undefined;
    const byDigest = isDigest(ref) || parseReference(ref).digest !== undefined;
    if (byDigest ? await this.local.hasBlob(digest) : (await this.local.resolve(ref)) === digest)
      return digest;
    const name = byDigest ? await this.#nameOf(digest) : canonicalName(parseReference(ref));
    if (name === undefined) return undefined;
    await this.#fetch(name, digest);
    return digest;
  }

  /**
   * The manifest bytes `ref` names, fetched from a peer first if this replica lacks them; undefined
   * when the cluster has no such image. A known image no live replica can provide is UNAVAILABLE.
   */
  async manifest(ref: string): Promise<ManifestBytes | undefined> {
    // A reference that does not parse is the caller's error (as the local store says it), not the peers'.
    if (!isDigest(ref)) parseReference(ref);
    let digest: Digest | undefined;
    try {
      digest = await this.ensure(ref);
    } catch (e) {
      throw new DabbaError(
        'DABBA_E_UNAVAILABLE',
        `image "${ref}" is in the cluster's catalog but neither this server replica nor a live peer could provide it: ${messageOf(e)}`,
        { cause: e },
      );
    }
    return digest === undefined ? undefined : this.local.getManifest(digest);
  }

  /** Makes sure this replica holds a blob, fetching it from a peer if needed; whether it does. */
  async ensureBlob(digest: Digest): Promise<boolean> {
    if (await this.local.hasBlob(digest)) return true;
    const source = peerSource(this.#source, () => digest);
    try {
      await this.local.blobs.ingestResumable({ digest }, (offset) => source.blob(digest, offset));
      return true;
    } catch (e) {
      this.#o.logger.debug({ digest, err: messageOf(e) }, 'blob not found on any peer');
      return false;
    }
  }

  /** `dabba image ls`: the catalog, and images of this replica not yet published. */
  async list(): Promise<ImageSummary[]> {
    const records = await this.catalog.all();
    const known = new Set(records.map((r) => r.name));
    const out = await this.catalog.list();
    for (const s of await this.local.list()) if (!known.has(s.name)) out.push(s);
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Records an image just stored here (import, create) as the cluster's; peers copy it. */
  async publish(info: ImageInfo): Promise<void> {
    await this.catalog.publish({ ...info, name: canonicalName(parseReference(info.name)) });
  }

  async #nameOf(digest: Digest): Promise<string | undefined> {
    return (await this.catalog.all()).find((r) => r.removed === undefined && r.digest === digest)?.name;
  }

  #fetch(name: string, digest: Digest): Promise<void> {
    const key = `${name}@${digest}`;
    let p = this.#inflight.get(key);
    if (p === undefined) {
      const started = Date.now();
      p = this.local
        .pullFrom(
          peerSource(this.#source, () => digest),
          name,
        )
        .then((info) => {
          this.#o.logger.info(
            { image: name, digest: info.digest, ms: Date.now() - started },
            'image fetched from a peer',
          );
        })
        .finally(() => this.#inflight.delete(key));
      this.#inflight.set(key, p);
    }
    return p;
  }

  /** One pass: fetch what the catalog has and this replica lacks, drop what was removed, publish the unpublished. */
  async sync(): Promise<SyncPass> {
    const pass: SyncPass = { fetched: [], dropped: [], published: [], failed: [] };
    const records = await this.catalog.all();
    const byName = new Map<string, ImageRecord>(records.map((r) => [r.name, r]));
    const tagged = await this.local.tagged();
    const local = new Map(tagged.map((t) => [t.name, t]));
    const live = records.filter((r) => r.removed === undefined);
    for (const r of live) {
      const t = local.get(r.name);
      // Same digest: held. Tagged here after the record was written: a push here, being published.
      if (t !== undefined && (t.digest === r.digest || t.createdAt > r.createdAt)) continue;
      try {
        await this.#fetch(r.name, r.digest);
        pass.fetched.push(r.name);
      } catch (e) {
        pass.failed.push({ name: r.name, error: messageOf(e) });
      }
    }
    const drop: Digest[] = [];
    for (const r of records) {
      const t = local.get(r.name);
      if (r.removed === undefined || t === undefined || t.createdAt > r.removed.at) continue;
      await this.local.untag(r.name);
      drop.push(t.digest);
      pass.dropped.push(r.name);
    }
    for (const t of tagged) {
      if (byName.has(t.name)) continue;
      const info = await this.local.load(t.name, t.digest).catch(() => undefined);
      if (info !== undefined && (await this.catalog.publish(info, true))) pass.published.push(t.name);
    }
    if (drop.length > 0) {
      const kept = (await this.local.tagged()).map((t) => t.digest);
      await this.local.collectGarbage({ only: drop, inUse: [...kept, ...live.map((r) => r.digest)] });
    }
    return pass;
  }

  /** Passes at start, on every change of the catalog, and every interval; until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const log = this.#o.logger;
    this.#credential
      .headers()
      .catch((e: unknown) => log.warn({ err: messageOf(e) }, 'could not make the replica token'));
    const watching = this.#watch(signal);
    while (!signal.aborted) {
      const woken = new Promise<void>((resolve) => (this.#wake = resolve));
      try {
        const pass = await this.sync();
        if (pass.fetched.length + pass.dropped.length + pass.published.length + pass.failed.length > 0)
          log.info(pass, 'images synced with the catalog');
      } catch (e) {
        log.warn({ err: messageOf(e) }, 'image sync pass failed');
      }
      await Promise.race([sleep(this.#o.syncIntervalMs ?? 30_000, signal), woken]);
    }
    await watching;
    await this.#credential.revoke();
  }

  async #watch(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        for await (const batch of this.#o.store.watch(keys.imagesPrefix, { signal })) {
          if (batch.length > 0) this.#wake();
        }
      } catch (e) {
        if (!signal.aborted) this.#o.logger.debug({ err: messageOf(e) }, 'image catalog watch ended');
      }
      await sleep(1_000, signal);
      this.#wake();
    }
  }
}

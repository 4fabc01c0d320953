/**
 * This host in one config shard's tree (docs/config.md, "Distribution"):
 *
 * - control: holds its tree stream to the distributor open (its positions arrive there), sends
 *   heartbeats with its statistics and the upstreams it saw fail, and joins again when the stream
 *   ends;
 * - data: reads the shard's metadata from its upstream — its parent, else the fallbacks (its
 *   ancestors), else the server — and passes every new version to its own children's streams and
 *   to the host (which fetches what its tasks mount). A new upstream's snapshot brings the latest
 *   version of every config, so switching parents loses none.
 */
import type { DabbaClient, MetaEvent } from '../../client/index.ts';
import { messageOf } from '../../errors/index.ts';
import { sleep, within, type Logger } from '../../lib/index.ts';
import type { ConfigMeta, ControlStats, DataStats, TreePosition } from '../../model/index.ts';
import type { Upstream } from './content-cache.ts';

export interface ShardMemberOptions {
  shard: number;
  hostId: string;
  /** This host's endpoint, as its children reach it. */
  selfUrl: string;
  /** The server's client (control, and the root's upstream). */
  client: DabbaClient;
  /** A client to a peer's endpoint (kept per address). */
  peer(url: string): DabbaClient;
  logger: Logger;
  control: ControlStats;
  data: DataStats;
  /** A new version of a config of the shard. */
  onMeta(m: ConfigMeta): void;
}

const metaKey = (m: { namespace: string; path: string }): string => `${m.namespace}\0${m.path}`;

export class ShardMember {
  readonly shard: number;
  position: TreePosition | undefined;
  readonly #o: ShardMemberOptions;
  readonly #metas = new Map<string, ConfigMeta>();
  readonly #children = new Set<(e: MetaEvent) => void>();
  readonly #suspects = new Set<string>();
  #ready = false;
  #readyWaiters: (() => void)[] = [];
  /** Aborts the current metadata stream (the position changed: start again from the parent). */
  #metaAbort = new AbortController();
  /** Aborts the current tree stream (the distributor forgot this host: join again). */
  #treeAbort = new AbortController();
  /** The upstream the metadata stream reads from now. */
  upstream = 'none';

  constructor(o: ShardMemberOptions) {
    this.#o = o;
    this.shard = o.shard;
  }

  /** Upstreams in the order to try them: parent, fallbacks, server. */
  upstreams(): Upstream[] {
    const p = this.position;
    const out: Upstream[] = [];
    if (p?.parent) out.push({ kind: 'parent', host: p.parent.host, client: this.#o.peer(p.parent.url) });
    for (const f of p?.fallbacks ?? [])
      out.push({ kind: 'fallback', host: f.host, client: this.#o.peer(f.url) });
    out.push({ kind: 'server', client: this.#o.client });
    return out;
  }

  suspect(host: string): void {
    this.#suspects.add(host);
  }

  /** Whether this host has its upstream's snapshot (so it knows every config of the shard). */
  get ready(): boolean {
    return this.#ready;
  }

  /** Resolves once the first snapshot is in, or after `timeoutMs` (then false). */
  async whenReady(timeoutMs: number): Promise<boolean> {
    if (this.#ready) return true;
    const ready = new Promise<boolean>((resolve) => this.#readyWaiters.push(() => resolve(true)));
    return (await within(ready, timeoutMs)) ?? false;
  }

  meta(namespace: string, path: string): ConfigMeta | undefined {
    return this.#metas.get(metaKey({ namespace, path }));
  }

  metas(): ConfigMeta[] {
    return [...this.#metas.values()];
  }

  /** A child's metadata stream: the snapshot, then each new version, until the returned function. */
  follow(send: (e: MetaEvent) => void): () => void {
    send({ type: 'snapshot', metas: this.metas() });
    this.#children.add(send);
    return () => this.#children.delete(send);
  }

  async run(signal: AbortSignal): Promise<void> {
    const onAbort = (): void => {
      this.#metaAbort.abort();
      this.#treeAbort.abort();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.all([this.#control(signal), this.#heartbeats(signal), this.#data(signal)]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }

  #setPosition(p: TreePosition): void {
    const before = this.position?.parent?.url;
    this.position = p;
    this.#o.control.positions++;
    if ((p.parent?.url ?? 'server') !== (before ?? 'server')) {
      this.#o.control.parentChanges++;
      this.#o.logger.info(
        {
          shard: this.shard,
          parent: p.parent?.host ?? 'server',
          depth: p.depth,
          children: p.children.length,
        },
        'config tree position',
      );
      this.#metaAbort.abort();
    }
  }

  async #control(signal: AbortSignal): Promise<void> {
    const { client, shard, hostId, selfUrl, logger } = this.#o;
    for (let attempt = 0; !signal.aborted; attempt++) {
      this.#treeAbort = new AbortController();
      const s = AbortSignal.any([signal, this.#treeAbort.signal]);
      try {
        this.#o.control.streamsOpened++;
        for await (const e of client.configDist().tree(shard, hostId, selfUrl, s)) {
          attempt = 0;
          if (e.type === 'position') this.#setPosition(e.position);
          else logger.info({ shard, reason: e.reason }, 'config tree stream closed by the distributor');
        }
      } catch (e) {
        if (signal.aborted) return;
        if (!this.#treeAbort.signal.aborted)
          logger.warn({ shard, err: messageOf(e) }, 'config tree stream failed; joining again');
      }
      await sleep(Math.min(100 * 2 ** attempt, 2000), signal).catch(() => undefined);
    }
  }

  async #heartbeats(signal: AbortSignal): Promise<void> {
    const { client, shard, hostId } = this.#o;
    let beatMs: number | undefined;
    while (!signal.aborted) {
      // Up to a quarter early, at random: hosts that joined together do not beat together.
      const every = beatMs ?? this.position?.heartbeatMs ?? 2000;
      await sleep(every * (0.75 + Math.random() / 4), signal).catch(() => undefined);
      if (signal.aborted) return;
      const suspects = [...this.#suspects];
      this.#suspects.clear();
      this.#o.control.suspectsReported += suspects.length;
      try {
        this.#o.control.heartbeats++;
        const r = await client
          .configDist()
          .heartbeat(shard, hostId, { suspects, control: this.#o.control, data: this.#o.data });
        beatMs = r.heartbeatMs;
        if (!r.member) this.#treeAbort.abort();
      } catch {
        this.#o.control.heartbeatFailures++;
      }
    }
  }

  async #data(signal: AbortSignal): Promise<void> {
    const { shard, hostId, logger } = this.#o;
    while (!signal.aborted) {
      this.#metaAbort = new AbortController();
      const s = AbortSignal.any([signal, this.#metaAbort.signal]);
      for (const up of this.upstreams()) {
        if (s.aborted) break;
        try {
          this.upstream = up.host ?? 'server';
          for await (const e of up.client.configDist().meta(shard, hostId, s)) this.#apply(e);
          throw new Error('the metadata stream ended');
        } catch (e) {
          if (s.aborted) break;
          this.#o.data.fallbacks++;
          if (up.host !== undefined) this.suspect(up.host);
          logger.info(
            { shard, from: up.host ?? 'server', err: messageOf(e) },
            'config metadata upstream failed',
          );
        }
      }
      if (!signal.aborted && !this.#metaAbort.signal.aborted) await sleep(250, signal).catch(() => undefined);
    }
  }

  #apply(e: MetaEvent): void {
    const list = e.type === 'snapshot' ? e.metas : [e.meta];
    for (const m of list) {
      this.#o.data.metaReceived++;
      const known = this.#metas.get(metaKey(m));
      if (known !== undefined && known.version >= m.version) continue;
      // Kept without an inline content or trace (snapshots stay small); passed on with them.
      const kept: ConfigMeta = {
        namespace: m.namespace,
        path: m.path,
        version: m.version,
        digest: m.digest,
        size: m.size,
      };
      this.#metas.set(metaKey(m), kept);
      const receivedAt = Date.now();
      if (e.type === 'meta' && this.#children.size > 0) {
        const on: ConfigMeta = { ...m, trace: [...(m.trace ?? []), receivedAt] };
        for (const send of this.#children) {
          this.#o.data.metaForwarded++;
          send({ type: 'meta', meta: on });
        }
      }
      this.#o.onMeta(e.type === 'meta' ? m : kept);
    }
    if (e.type === 'snapshot' && !this.#ready) {
      this.#ready = true;
      for (const w of this.#readyWaiters) w();
      this.#readyWaiters = [];
    }
  }
}

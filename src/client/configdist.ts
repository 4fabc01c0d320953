/**
 * Config distribution's wire (docs/config.md, "Distribution"), for an agent: the control protocol
 * against the server (its tree stream, heartbeats) and the metadata stream of the data protocol,
 * which a tree's root reads from the server and every other member from its parent's agent endpoint
 * (the same path on both). Contents travel through ConfigApi.contentStream, from either.
 */
import type { ConfigMeta, TreeHeartbeat, TreePosition } from '../model/index.ts';
import type { ConfigTransport } from './configs.ts';
import { errorFromBody, parseResponse } from './responses.ts';
import { readSse } from './sse.ts';

export interface ConfigReport {
  namespace: string;
  path: string;
  version: number;
  digest: string;
  ageMs: number;
}

export type TreeEvent = { type: 'position'; position: TreePosition } | { type: 'closed'; reason: string };
export type MetaEvent = { type: 'snapshot'; metas: ConfigMeta[] } | { type: 'meta'; meta: ConfigMeta };

export interface ConfigDistApi {
  /** Joins the shard's tree while iterated: the host's positions, until the server closes it. */
  tree(shard: number, host: string, url: string, signal: AbortSignal): AsyncGenerator<TreeEvent>;
  /**
   * `member` false when the host is not (or no longer) in the tree; `heartbeatMs`, the interval to
   * beat at (the distributor lengthens it when it has many members; older servers do not say).
   */
  heartbeat(
    shard: number,
    host: string,
    hb: TreeHeartbeat,
  ): Promise<{ member: boolean; heartbeatMs?: number }>;
  /** What this host has of several configs (`ageMs`: how long it has had it). */
  report(host: string, reports: ConfigReport[]): Promise<void>;
  /** The shard's metadata from this upstream: a snapshot, then each new version. */
  meta(shard: number, host: string, signal: AbortSignal): AsyncGenerator<MetaEvent>;
}

const base = (shard: number, host: string): string =>
  `/v1/configdist/shards/${shard}/hosts/${encodeURIComponent(host)}`;

export function configDistApi(send: ConfigTransport): ConfigDistApi {
  async function* events(
    path: string,
    signal: AbortSignal,
  ): AsyncGenerator<{ event: string; data: unknown }> {
    const res = await send('GET', path, { signal, stream: true });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    for await (const msg of readSse(res.body, signal)) {
      const data: unknown = JSON.parse(msg.data);
      if (msg.event === 'error') throw errorFromBody(data, 500);
      yield { event: msg.event, data };
    }
  }
  return {
    async *tree(shard, host, url, signal) {
      for await (const e of events(`${base(shard, host)}/tree?url=${encodeURIComponent(url)}`, signal)) {
        if (e.event === 'position') yield { type: 'position', position: e.data as TreePosition };
        else if (e.event === 'closed')
          yield { type: 'closed', reason: (e.data as { reason: string }).reason };
      }
    },
    heartbeat: async (shard, host, hb) => {
      const res = await send('POST', `${base(shard, host)}/heartbeat`, { body: hb });
      const body = (await parseResponse(res)) as { member: boolean; heartbeatMs?: unknown };
      return {
        member: body.member,
        ...(typeof body.heartbeatMs === 'number' ? { heartbeatMs: body.heartbeatMs } : {}),
      };
    },
    report: async (host, reports) => {
      await parseResponse(
        await send('POST', `/v1/configdist/hosts/${encodeURIComponent(host)}/reports`, { body: { reports } }),
      );
    },
    async *meta(shard, host, signal) {
      for await (const e of events(`${base(shard, host)}/meta`, signal)) {
        if (e.event === 'snapshot') yield { type: 'snapshot', metas: e.data as ConfigMeta[] };
        else if (e.event === 'meta') yield { type: 'meta', meta: e.data as ConfigMeta };
      }
    },
  };
}

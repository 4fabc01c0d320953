/**
 * Config distribution, the server's side (docs/config.md, "Distribution"). Each route is a host's,
 * for itself (`/hosts/:id/`):
 *
 * - control: `GET .../tree?url=U` holds the host in the shard's tree while open (server-sent
 *   `position` events; 503 from a replica that does not own the shard, so the host's client tries
 *   the next replica); `POST .../heartbeat` proves it alive and carries its statistics and suspects;
 * - data, for a tree's root: `GET .../meta`, the shard's metadata (`snapshot`, then each `meta`).
 *   Contents come from `GET /v1/configs/PATH/content` (routes/configs.ts).
 */
import type { ServerResponse } from 'node:http';
import type { ConfigStore, Distributor } from '../../configdist/server/index.ts';
import { DabbaError, UnavailableError, ValidationError } from '../../errors/index.ts';
import { CONFIG_SHARDS, configPathProblem, isNamespaceName, type TreeHeartbeat } from '../../model/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';

const PING_MS = 15_000;

function shardParam(raw: string | undefined): number {
  const n = Number(raw);
  if (!/^\d{1,4}$/.test(raw ?? '') || n >= CONFIG_SHARDS)
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `"${raw ?? ''}" is not a config shard (0 to ${CONFIG_SHARDS - 1})`,
    );
  return n;
}

function openStream(res: ServerResponse): () => void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write(': config tree\n\n');
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  return () => clearInterval(ping);
}

const event = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string').slice(0, 64) : undefined;
}

function counters<T>(v: unknown): T | undefined {
  if (typeof v !== 'object' || v === null) return undefined;
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out as T;
}

export function configDistRoutes(router: Router, dist: Distributor, configs: ConfigStore): void {
  treeRoutes(router, dist);
  reportRoutes(router, configs);
  metaRoutes(router, dist);
}

/** A host's place in a shard's distribution tree: joining (a stream of its positions) and heartbeats. */
function treeRoutes(router: Router, dist: Distributor): void {
  router.on('GET', '/v1/configdist/shards/:shard/hosts/:id/tree', async ({ params, query, res, signal }) => {
    const shard = shardParam(params['shard']);
    const host = params['id'] ?? '';
    const url = query.get('url') ?? '';
    if (!/^https?:\/\/[^\s/]+(\/[^\s]*)?$/.test(url))
      throw new DabbaError(
        'DABBA_E_BAD_REQUEST',
        `url "${url}" is not the http(s) address of the host's endpoint`,
      );
    if (!dist.owns(shard))
      throw new UnavailableError(`config shard ${shard} is held by another replica`, { details: { shard } });
    const rack = await dist.rackOf(host);
    const stop = openStream(res);
    await new Promise<void>((resolve) => {
      const m = dist.join(
        shard,
        host,
        url,
        (p) => {
          if (!res.writableEnded) res.write(event('position', p));
        },
        (reason) => {
          if (!res.writableEnded) res.end(event('closed', { reason }));
          resolve();
        },
        rack,
      );
      const onAbort = (): void => {
        dist.leave(shard, m);
        resolve();
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    stop();
    if (!res.writableEnded) res.end();
    return undefined;
  });

  router.on('POST', '/v1/configdist/shards/:shard/hosts/:id/heartbeat', async ({ req, params }) => {
    const shard = shardParam(params['shard']);
    const body = (await readJsonBody(req)) as Record<string, unknown>;
    const suspects = stringList(body['suspects']);
    const control = counters<TreeHeartbeat['control']>(body['control']);
    const data = counters<TreeHeartbeat['data']>(body['data']);
    const hb: TreeHeartbeat = {
      ...(suspects ? { suspects } : {}),
      ...(control ? { control } : {}),
      ...(data ? { data } : {}),
    };
    return dist.heartbeat(shard, params['id'] ?? '', hb);
  });
}

/** Which versions of its configs a host has. */
function reportRoutes(router: Router, configs: ConfigStore): void {
  // What a host has of its configs, several at once (hosts batch these: one request and one store
  // transaction for a change to many configs, not one each). `ageMs`: how long ago the host had it.
  router.on('POST', '/v1/configdist/hosts/:id/reports', async ({ req, params }) => {
    const body = (await readJsonBody(req)) as { reports?: unknown };
    if (!Array.isArray(body.reports) || body.reports.length > 1000)
      throw new ValidationError('reports must be a list of at most 1,000', [
        { path: 'reports', message: 'a list of { namespace, path, version, digest, ageMs }' },
      ]);
    const host = params['id'] ?? '';
    const now = Date.now();
    const list = body.reports.map((r: unknown, i) => {
      const o = (typeof r === 'object' && r !== null ? r : {}) as Record<string, unknown>;
      const namespace = typeof o['namespace'] === 'string' ? o['namespace'] : '';
      const path = typeof o['path'] === 'string' ? o['path'] : '';
      const version = o['version'];
      if (!isNamespaceName(namespace) || configPathProblem(path) !== undefined)
        throw new ValidationError(`report ${i} names no config`, [
          { path: `reports[${i}]`, message: 'a namespace name and a config path' },
        ]);
      if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
        throw new ValidationError(`report ${i} has no version`, [
          { path: `reports[${i}].version`, message: 'a whole number from 1' },
        ]);
      const age = typeof o['ageMs'] === 'number' && o['ageMs'] > 0 ? Math.min(o['ageMs'], 60_000) : 0;
      const digest = typeof o['digest'] === 'string' ? o['digest'] : '';
      return { namespace, path, host, version, digest, at: now - age };
    });
    await configs.reportHosts(list);
    return { ok: true };
  });
}

/** A shard's config versions: a snapshot, then each new one (a stream). */
function metaRoutes(router: Router, dist: Distributor): void {
  router.on('GET', '/v1/configdist/shards/:shard/hosts/:id/meta', async ({ params, res, signal }) => {
    const shard = shardParam(params['shard']);
    const pending: string[] = [];
    let live = false;
    // Versions stored while the snapshot is read are queued, then sent after it (none lost).
    const off = dist.onMeta(shard, (m) => {
      const text = event('meta', m);
      if (live) res.write(text);
      else pending.push(text);
    });
    try {
      const snap = await dist.snapshot(shard);
      const stop = openStream(res);
      res.write(event('snapshot', snap));
      for (const t of pending) res.write(t);
      live = true;
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        signal.addEventListener('abort', () => resolve(), { once: true });
      });
      stop();
    } finally {
      off();
      if (!res.writableEnded && res.headersSent) res.end();
    }
    return undefined;
  });
}

/**
 * Configs (docs/config.md): `/v1/configs/PATH` with PATH one URL-encoded segment
 * (`app%2Fsettings.json`), namespaced by `?namespace=` like jobs. Content goes up as the raw body
 * (`PUT`, `?message=WHY`) and comes down raw (`/content`, resumable with `Range: bytes=N-`).
 */
import { pipeline } from 'node:stream/promises';
import { principalName } from '../../auth/index.ts';
import type { ConfigStore, Distributor } from '../../configdist/server/index.ts';
import { DabbaError, ValidationError } from '../../errors/index.ts';
import {
  configShardOf,
  isNamespaceName,
  type ConfigHostState,
  type ConfigVersion,
} from '../../model/index.ts';
import { readJsonBody, readRawBody } from '../http/body.ts';
import { sendJson } from '../http/respond.ts';
import type { Router } from '../http/router.ts';

/** Headers that carry a content's metadata beside its bytes. */
export const CONFIG_HEADERS = { version: 'x-dabba-config-version', digest: 'x-dabba-config-digest' } as const;

function versionParam(raw: string | null): number | undefined {
  if (raw === null || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new ValidationError(`version "${raw}" is not a version number`, [
      { path: 'version', message: 'a version is a whole number from 1', found: raw },
    ]);
  }
  return n;
}

function positiveInt(value: unknown, field: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValidationError(`${field} must be a version number`, [
      { path: field, message: 'a whole number from 1', found: JSON.stringify(value) ?? 'nothing' },
    ]);
  }
  return value;
}

export function configRoutes(router: Router, configs: ConfigStore, dist?: Distributor): void {
  const pick = (ns: string, path: string, version: number | undefined): Promise<ConfigVersion> =>
    version === undefined ? configs.latest(ns, path) : configs.version(ns, path, version);

  router.on('GET', '/v1/configs', ({ namespace, query }) =>
    configs.list(namespace, query.get('prefix') ?? ''),
  );

  router.on('PUT', '/v1/configs/:path', async ({ req, res, params, query, namespace, principal }) => {
    const content = await readRawBody(req, configs.maxBytes);
    const r = await configs.put({
      namespace,
      path: params['path'] ?? '',
      content,
      author: principalName(principal),
      message: query.get('message') ?? '',
    });
    sendJson(res, r.changed ? 201 : 200, r);
    return undefined;
  });

  router.on('GET', '/v1/configs/:path', ({ params, query, namespace }) =>
    pick(namespace, params['path'] ?? '', versionParam(query.get('version'))),
  );

  router.on('GET', '/v1/configs/:path/content', async ({ params, query, namespace, req, res, signal }) => {
    const v = await pick(namespace, params['path'] ?? '', versionParam(query.get('version')));
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const offset = range ? Number(range[1]) : 0;
    if (offset > v.size)
      throw new DabbaError('DABBA_E_BAD_REQUEST', `range starts past the content's end (${v.size} bytes)`);
    const stream = await configs.open(v, offset);
    res.writeHead(range ? 206 : 200, {
      'content-type': 'application/octet-stream',
      'content-length': v.size - offset,
      [CONFIG_HEADERS.version]: String(v.version),
      [CONFIG_HEADERS.digest]: v.digest,
      ...(range ? { 'content-range': `bytes ${offset}-${v.size - 1}/${v.size}` } : {}),
    });
    await pipeline(stream, res, { signal }).catch(() => undefined);
    return undefined;
  });

  router.on('GET', '/v1/configs/:path/versions', ({ params, namespace }) =>
    configs.history(namespace, params['path'] ?? ''),
  );

  router.on(
    'POST',
    '/v1/configs/:path/revert',
    async ({ req, params, namespace, principal }) => {
      const body = (await readJsonBody(req)) as { to?: unknown; message?: unknown };
      const to = positiveInt(body.to, 'to');
      const message = typeof body.message === 'string' && body.message !== '' ? body.message : undefined;
      return configs.revert(namespace, params['path'] ?? '', to, principalName(principal), message);
    },
    201,
  );

  router.on('GET', '/v1/configs/:path/status', async ({ params, namespace }) => {
    const path = params['path'] ?? '';
    const status = await configs.status(namespace, path);
    const tree = dist?.tree(configShardOf(namespace, path));
    return tree === undefined ? status : { ...status, tree };
  });

  router.on('PUT', '/v1/configs/:path/hosts/:id', async ({ req, params, query }) => {
    const ns = query.get('namespace') ?? 'default';
    if (!isNamespaceName(ns)) throw new DabbaError('DABBA_E_BAD_REQUEST', `"${ns}" is not a namespace name`);
    const body = (await readJsonBody(req)) as Partial<ConfigHostState>;
    const version = positiveInt(body.version, 'version');
    const digest = typeof body.digest === 'string' ? body.digest : '';
    const host = params['id'] ?? '';
    await configs.reportHost(ns, params['path'] ?? '', { host, version, digest, at: Date.now() });
    return { ok: true };
  });
}

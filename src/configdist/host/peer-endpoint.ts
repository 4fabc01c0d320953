/**
 * What a host serves its children on the agent's endpoint (docs/config.md, "Distribution"), on the
 * same paths as the server's, so that a child reads its parent as the root reads the server:
 *
 * - `GET /v1/configdist/shards/:shard/hosts/:id/meta`: the shard's metadata as this host has it
 *   (server-sent events: `snapshot`, then each `meta`);
 * - `GET /v1/configs/:path/content?namespace=NS&version=N`: a content, with `Range: bytes=N-`,
 *   streamed while this host is still fetching it (pipelined).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { messageOf } from '../../errors/index.ts';
import { drained } from '../../lib/write-chunk.ts';
import { configShardOf, type ConfigMeta } from '../../model/index.ts';
import { ReadBuffers } from './content-cache.ts';
import type { Distribution } from './distribution.ts';

/** How long a child's request waits for this host to know the shard or the version it asks for. */
const WAIT_MS = 15_000;
/** Read buffers per child's content stream (see ContentCache.read). */
const READ_BUFFERS = 4;

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ code, message, details: {} }));
}

function closed(res: ServerResponse): AbortSignal {
  const ac = new AbortController();
  res.on('close', () => ac.abort());
  return ac.signal;
}

/** Serves the request if it is one of distribution's; undefined when it is not. */
export function servePeer(
  dist: Distribution,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  query: URLSearchParams,
): Promise<void> | undefined {
  if (req.method !== 'GET') return undefined;
  const meta = /^\/v1\/configdist\/shards\/(\d{1,4})\/hosts\/[^/]+\/meta$/.exec(pathname);
  if (meta) return serveMeta(dist, Number(meta[1]), res);
  const content = /^\/v1\/configs\/([^/]+)\/content$/.exec(pathname);
  if (content) {
    let path: string;
    try {
      path = decodeURIComponent(content[1] ?? '');
    } catch {
      fail(res, 400, 'DABBA_E_BAD_REQUEST', 'the config path is not valid percent-encoding');
      return Promise.resolve();
    }
    return serveContent(dist, path, query, req, res);
  }
  return undefined;
}

async function serveMeta(dist: Distribution, shard: number, res: ServerResponse): Promise<void> {
  const member = dist.member(shard);
  if (member === undefined || !(await member.whenReady(WAIT_MS)))
    return fail(res, 503, 'DABBA_E_UNAVAILABLE', `this host has no metadata of config shard ${shard}`);
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' });
  res.write(': config metadata\n\n');
  const stop = member.follow((e) => {
    res.write(`event: ${e.type}\ndata: ${JSON.stringify(e.type === 'snapshot' ? e.metas : e.meta)}\n\n`);
  });
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  await new Promise<void>((resolve) => res.on('close', resolve));
  clearInterval(ping);
  stop();
}

async function waitMeta(
  dist: Distribution,
  ns: string,
  path: string,
  version: number,
): Promise<ConfigMeta | undefined> {
  const until = Date.now() + WAIT_MS;
  for (;;) {
    const m = dist.member(configShardOf(ns, path))?.meta(ns, path);
    if (m !== undefined && m.version >= version) return m.version === version ? m : undefined;
    if (Date.now() > until) return undefined;
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function serveContent(
  dist: Distribution,
  path: string,
  query: URLSearchParams,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const ns = query.get('namespace') ?? 'default';
  const version = Number(query.get('version'));
  if (!Number.isInteger(version) || version < 1)
    return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'a peer serves a given version (?version=N)');
  const meta = await waitMeta(dist, ns, path, version);
  if (meta === undefined)
    return fail(res, 404, 'DABBA_E_NOT_FOUND', `this host does not have ${path} version ${version}`);
  const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  const offset = range ? Number(range[1]) : 0;
  if (offset > meta.size) return fail(res, 400, 'DABBA_E_BAD_REQUEST', 'range starts past the end');
  res.writeHead(range ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': meta.size - offset,
    'x-dabba-config-version': String(meta.version),
    'x-dabba-config-digest': meta.digest,
    ...(range ? { 'content-range': `bytes ${offset}-${meta.size - 1}/${meta.size}` } : {}),
  });
  const signal = closed(res);
  // A large content's pieces are read into a few buffers, each reused once the socket has written it.
  const buffers = ReadBuffers.worthFor(meta.size - offset)
    ? new ReadBuffers(READ_BUFFERS, signal)
    : undefined;
  try {
    for await (const chunk of dist.cache.read(meta, offset, signal, buffers)) {
      if (!res.write(chunk, () => buffers?.give(chunk))) await drained(res);
      if (signal.aborted) return;
    }
    res.end();
  } catch (e) {
    res.destroy(new Error(messageOf(e)));
  }
}

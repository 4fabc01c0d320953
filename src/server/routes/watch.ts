import { CompactedError, DabbaError } from '../../errors/index.ts';
import { keys, type WatchEventWire } from '../../model/index.ts';
import type { Store, WatchEvent } from '../../store/index.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';

function wire(e: WatchEvent): WatchEventWire {
  let value: unknown = null;
  if (e.type === 'put') {
    try {
      value = JSON.parse(e.kv.value);
    } catch {
      value = e.kv.value;
    }
  }
  return {
    type: e.type,
    key: e.kv.key,
    value,
    modRevision: e.kv.modRevision,
    createRevision: e.kv.createRevision,
  };
}

/**
 * `GET /v1/watch?prefix=P&rev=R`: server-sent events, one `events` message per store revision, `id`
 * the revision (so a client resumes from id+1). A compacted revision answers an `error` message with
 * code DABBA_E_COMPACTED: re-list and watch again.
 */
export function watchRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/watch', async ({ query, res, signal }) => {
    const prefix = query.get('prefix') ?? '/';
    if (!prefix.startsWith('/')) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'prefix must start with "/"', { details: { prefix } });
    }
    const revText = query.get('rev');
    let fromRevision: number | undefined;
    if (revText !== null) {
      if (!/^\d+$/.test(revText)) {
        throw new DabbaError('DABBA_E_BAD_REQUEST', 'rev must be a non-negative integer', {
          details: { rev: revText },
        });
      }
      fromRevision = Number(revText);
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': watching\n\n');
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    try {
      const opts = fromRevision === undefined ? { signal } : { signal, fromRevision };
      for await (const all of store.watch(prefix, opts)) {
        // Secrets (the CA key) are never served, whatever prefix is watched.
        const batch = all.filter((e) => !e.kv.key.startsWith(keys.secretPrefix));
        if (batch.length === 0) continue;
        const rev = batch[0]?.kv.modRevision ?? 0;
        await writeChunk(
          res,
          `event: events\nid: ${rev}\ndata: ${JSON.stringify({ events: batch.map(wire) })}\n\n`,
        );
      }
    } catch (e) {
      if (!signal.aborted) {
        const body =
          e instanceof CompactedError || e instanceof DabbaError
            ? e.toJSON()
            : { code: 'DABBA_E_INTERNAL', message: 'watch failed', details: {} };
        res.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
      }
    } finally {
      clearInterval(ping);
      res.end();
    }
    return undefined;
  });
}

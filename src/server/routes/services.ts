import { DabbaError, NotFoundError } from '../../errors/index.ts';
import { NAME_PATTERN } from '../../lib/index.ts';
import { ALL_NAMESPACES, jobId, keys, type JobRecord, type ServiceEndpoints } from '../../model/index.ts';
import {
  HostViewFeed,
  PEERS_PREFIXES,
  follow,
  hostMeshView,
  hostPeersView,
  jobEndpoints,
  listServices,
} from '../../mesh/server/index.ts';
import type { ServerResponse } from 'node:http';
import type { Store } from '../../store/index.ts';
import { getJson } from '../state/json.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';

/**
 * Discovery: `GET /v1/services` (the namespace's services and how many endpoints each has) and
 * `GET /v1/services/NAME/endpoints` (its running, ready tasks with their addresses; `?watch=1`:
 * server-sent events, one `endpoints` message now and one each time the set changes).
 */
export function serviceRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/services', ({ namespace }) => listServices(store, namespace));

  router.on('GET', '/v1/services/:name/endpoints', async ({ params, query, namespace, res, signal }) => {
    const name = params['name'] ?? '';
    if (!NAME_PATTERN.test(name)) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', `"${name}" is not a valid service name`, {
        details: { name },
      });
    }
    if (namespace === ALL_NAMESPACES) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'name one namespace (?namespace=NS) for a service');
    }
    const id = jobId(namespace, name);
    const job = await getJson<JobRecord>(store, keys.job(id));
    if (job === undefined || job.value.status !== 'active') throw new NotFoundError('service', name);
    const read = async (): Promise<ServiceEndpoints> => ({
      service: name,
      namespace,
      ...(await jobEndpoints(store, id)),
    });
    if (query.get('watch') !== '1' && query.get('watch') !== 'true') return read();
    const prefixes = [keys.jobTasksPrefix(id), keys.jobStatusPrefix(id)];
    await stream(res, signal, 'endpoints', follow(store, prefixes, read, signal));
    return undefined;
  });

  // A host's proxy: the dependency file and the endpoints of every service it names (?watch=1:
  // server-sent `mesh` events, now and on every change).
  // One incrementally kept view for every host (view-feed.ts).
  const feed = new HostViewFeed(store);
  router.on('GET', '/v1/hosts/:id/mesh', async ({ query, res, signal }) => {
    if (query.get('watch') !== '1' && query.get('watch') !== 'true') return hostMeshView(store);
    await stream(res, signal, 'mesh', feed.follow(signal));
    return undefined;
  });

  // Host-gw: the other live hosts' task ranges and addresses (?watch=1: server-sent `peers` events,
  // now and on every change), so the agent routes each range via its host.
  router.on('GET', '/v1/hosts/:id/peers', async ({ params, query, res, signal }) => {
    const read = () => hostPeersView(store, params['id'] ?? '');
    if (query.get('watch') !== '1' && query.get('watch') !== 'true') return read();
    await stream(res, signal, 'peers', follow(store, PEERS_PREFIXES, read, signal));
    return undefined;
  });
}

/** Writes each value as a server-sent event until the source ends or the client goes. */
async function stream(
  res: ServerResponse,
  signal: AbortSignal,
  event: string,
  source: AsyncIterable<{ revision: number }>,
): Promise<void> {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.write(': watching\n\n');
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  try {
    for await (const v of source) {
      await writeChunk(res, `event: ${event}\nid: ${String(v.revision)}\ndata: ${JSON.stringify(v)}\n\n`);
    }
  } catch (e) {
    if (!signal.aborted) {
      const body =
        e instanceof DabbaError
          ? e.toJSON()
          : { code: 'DABBA_E_INTERNAL', message: 'watch failed', details: {} };
      res.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
    }
  } finally {
    clearInterval(ping);
    res.end();
  }
}

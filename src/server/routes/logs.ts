import { DabbaError, NotFoundError, UnavailableError } from '../../errors/index.ts';
import type { HostRecord } from '../../model/index.ts';
import {
  jobOfTaskId,
  keys,
  LOG_DROPS_HEADER,
  LOG_GAPS_HEADER,
  LOG_INSTANCE_HEADER,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { agentTarget, withDispatcher } from '../agent-connection.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';
import { getJson, getTask } from '../state/json.ts';

/**
 * `GET /v1/tasks/ID/logs?follow=1&tail=N&previous=1`: the server finds the task's host and streams
 * the log from that host's agent (as the Kubernetes API server does with the kubelet). NDJSON lines;
 * a log that is not the running instance's says so in the LOG_INSTANCE_HEADER header. A client that
 * goes away (Ctrl-C) just ends the stream: no error. The agent is
 * reached only at the address of the host certificate the server issued (see agent-connection.ts).
 */
export function logRoutes(router: Router, store: Store, pki?: ServerPki): void {
  router.on('GET', '/v1/tasks/:id/logs', async ({ params, query, res, signal, namespace }) => {
    const id = params['id'] ?? '';
    const job = jobOfTaskId(id, namespace);
    const found = job === undefined ? undefined : await getTask(store, job, id);
    if (!found) throw new NotFoundError('task', id);
    const task = { value: found };
    if (task.value.host === null) {
      throw new DabbaError(
        'DABBA_E_CONFLICT',
        `task ${id} has not been placed on a host yet, so it has no logs`,
      );
    }
    const host = await getJson<HostRecord>(store, keys.host(task.value.host));
    if (!host) throw new UnavailableError(`host ${task.value.host} is not registered`);
    const target = await agentTarget(store, pki, host.value);
    const q = new URLSearchParams();
    const follow = query.get('follow');
    const tail = query.get('tail');
    if (follow === '1' || follow === 'true') q.set('follow', '1');
    if (tail !== null && /^\d+$/.test(tail)) q.set('tail', tail);
    const previous = query.get('previous');
    if (previous === '1' || previous === 'true') q.set('previous', '1');
    let upstream: Response;
    try {
      upstream = await fetch(
        `${target.base}/v1/logs/${encodeURIComponent(id)}?${q.toString()}`,
        withDispatcher({ signal }, target.dispatcher),
      );
    } catch (cause) {
      if (signal.aborted) return undefined;
      throw new UnavailableError(`cannot reach the agent of host ${task.value.host} for logs`, { cause });
    }
    if (!upstream.ok || !upstream.body) {
      const text = await upstream.text();
      let body: { code?: string; message?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // keep the generic message below
      }
      if (upstream.status === 404) {
        if (body.message !== undefined) throw new DabbaError('DABBA_E_NOT_FOUND', body.message);
        throw new NotFoundError('task log', id);
      }
      throw new UnavailableError(body.message ?? `agent answered HTTP ${upstream.status}`);
    }
    const instance = upstream.headers.get(LOG_INSTANCE_HEADER);
    const gaps = upstream.headers.get(LOG_GAPS_HEADER);
    const drops = upstream.headers.get(LOG_DROPS_HEADER);
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      ...(instance === null ? {} : { [LOG_INSTANCE_HEADER]: instance }),
      ...(gaps === null ? {} : { [LOG_GAPS_HEADER]: gaps }),
      ...(drops === null ? {} : { [LOG_DROPS_HEADER]: drops }),
    });
    try {
      for await (const chunk of upstream.body) {
        await writeChunk(res, chunk as Uint8Array);
        if (res.destroyed) break;
      }
    } catch {
      // client or agent went away: end the stream
    }
    res.end();
    return undefined;
  });
}

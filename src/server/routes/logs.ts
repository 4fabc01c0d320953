import { DabbaError, NotFoundError, UnavailableError } from '../../errors/index.ts';
import type { HostRecord, Task } from '../../model/index.ts';
import { jobOfTaskId, keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import { getJson } from '../state/json.ts';

/**
 * `GET /v1/tasks/ID/logs?follow=1&tail=N`: the server finds the task's host and streams the log from
 * that host's agent (as the Kubernetes API server does with the kubelet). NDJSON lines.
 */
export function logRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/tasks/:id/logs', async ({ params, query, res, signal, namespace }) => {
    const id = params['id'] ?? '';
    const job = jobOfTaskId(id, namespace);
    const task = job === undefined ? undefined : await getJson<Task>(store, keys.task(job, id));
    if (!task) throw new NotFoundError('task', id);
    if (task.value.host === null) {
      throw new DabbaError(
        'DABBA_E_CONFLICT',
        `task ${id} has not been placed on a host yet, so it has no logs`,
      );
    }
    const host = await getJson<HostRecord>(store, keys.host(task.value.host));
    if (!host?.value.agentUrl)
      throw new UnavailableError(`the agent of host ${task.value.host} serves no logs`);
    const q = new URLSearchParams();
    const follow = query.get('follow');
    const tail = query.get('tail');
    if (follow === '1' || follow === 'true') q.set('follow', '1');
    if (tail !== null && /^\d+$/.test(tail)) q.set('tail', tail);
    let upstream: Response;
    try {
      upstream = await fetch(`${host.value.agentUrl}/v1/logs/${encodeURIComponent(id)}?${q.toString()}`, {
        signal,
      });
    } catch (cause) {
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
      if (upstream.status === 404) throw new NotFoundError('task log', id);
      throw new UnavailableError(body.message ?? `agent answered HTTP ${upstream.status}`);
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    try {
      for await (const chunk of upstream.body) {
        if (!res.write(chunk)) await new Promise((r) => res.once('drain', r));
      }
    } catch {
      // client or agent went away: end the stream
    }
    res.end();
    return undefined;
  });
}

/**
 * `POST /v1/tasks/ID/exec`, body `{"command": ["cat", "/etc/hostname"]}` (`dabba exec TASK -- CMD`):
 * the server finds the task's host and streams the command's output from that host's agent, as it
 * does for logs. The answer is NDJSON: `{"stream":"stdout"|"stderr","data":BASE64}` lines, then
 * `{"exit":N}`. It runs a command in a task, so it is a write. The agent is reached as for logs:
 * only at the address of the host certificate the server issued (see agent-connection.ts).
 */
import { z } from 'zod';
import { DabbaError, NotFoundError, UnavailableError, isErrorCode } from '../../errors/index.ts';
import type { HostRecord, Task } from '../../model/index.ts';
import { jobOfTaskId, keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { agentTarget, withDispatcher } from '../agent-connection.ts';
import { readJsonBody } from '../http/body.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';
import { getJson } from '../state/json.ts';
import { parseBody } from '../state/parse.ts';

const execSchema = z.strictObject({
  command: z
    .array(z.string().max(64 * 1024))
    .min(1, 'give the command to run')
    .max(4096),
});

export function execRoutes(router: Router, store: Store, pki?: ServerPki): void {
  // Authorized as a write in the request's namespace (it runs code in a task): the task is looked
  // up in that namespace only.
  router.on('POST', '/v1/tasks/:id/exec', async ({ req, params, res, signal, namespace }) => {
    const id = params['id'] ?? '';
    const { command } = parseBody(execSchema, await readJsonBody(req), 'exec request');
    const job = jobOfTaskId(id, namespace);
    const task = job === undefined ? undefined : await getJson<Task>(store, keys.task(job, id));
    if (!task) throw new NotFoundError('task', id);
    if (task.value.host === null)
      throw new DabbaError('DABBA_E_CONFLICT', `task ${id} has not been placed on a host yet`);
    const host = await getJson<HostRecord>(store, keys.host(task.value.host));
    if (!host) throw new UnavailableError(`host ${task.value.host} is not registered`);
    const target = await agentTarget(store, pki, host.value);
    let upstream: Response;
    try {
      upstream = await fetch(
        `${target.base}/v1/exec/${encodeURIComponent(id)}`,
        withDispatcher(
          {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ command }),
            signal,
          },
          target.dispatcher,
        ),
      );
    } catch (cause) {
      throw new UnavailableError(`cannot reach the agent of host ${task.value.host} to exec`, { cause });
    }
    if (!upstream.ok || !upstream.body) {
      const text = await upstream.text();
      let body: { code?: string; message?: string } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // keep the generic message below
      }
      const code = body.code !== undefined && isErrorCode(body.code) ? body.code : 'DABBA_E_UNAVAILABLE';
      throw new DabbaError(code, body.message ?? `agent answered HTTP ${upstream.status}`, {
        details: { task: id, host: task.value.host },
      });
    }
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    try {
      for await (const chunk of upstream.body) {
        await writeChunk(res, chunk as Uint8Array);
      }
    } catch {
      // client or agent went away: end the stream (the agent kills the command)
    }
    res.end();
    return undefined;
  });
}

/**
 * `POST /v1/tasks/ID/exec`, body `{"command": ["cat", "/etc/hostname"]}` (`dabba exec TASK -- CMD`):
 * the server finds the task's host and streams the command's output from that host's agent, as it
 * does for logs. The answer is NDJSON: `{"stream":"stdout"|"stderr","data":BASE64}` lines, then
 * `{"exit":N}`. It runs a command in a task, so it is a write. The agent is reached as for logs:
 * only at the address of the host certificate the server issued (see agent-connection.ts).
 *
 * Interactive (`dabba exec -it`): the same route with `Upgrade: dabba-exec` and the command and its
 * settings in the query (model/exec-stream.ts). The server opens the same upgrade to the agent and,
 * once the agent has switched protocols, switches too and copies bytes both ways until either side
 * closes; refusals of the agent are passed on as answers.
 */
import { z } from 'zod';
import { DabbaError, NotFoundError, UnavailableError, isErrorCode } from '../../errors/index.ts';
import type { HostRecord } from '../../model/index.ts';
import { jobOfTaskId, keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { EXEC_SWITCHING, EXEC_UPGRADE_PROTOCOL, execQuery, parseExecQuery } from '../../model/index.ts';
import { agentTarget, withDispatcher, type AgentTarget } from '../agent-connection.ts';
import { agentUpgrade } from '../agent-upgrade.ts';
import type { RouteContext } from '../http/router.ts';
import { readJsonBody } from '../http/body.ts';
import { writeChunk } from '../http/respond.ts';
import type { Router } from '../http/router.ts';
import type { ServerPki } from '../pki.ts';
import { getJson, getTask } from '../state/json.ts';
import { parseBody } from '../state/parse.ts';

const execSchema = z.strictObject({
  command: z
    .array(z.string().max(64 * 1024))
    .min(1, 'give the command to run')
    .max(4096),
});

/** The agent of the host a task is placed on, and how to reach it. */
async function taskAgent(
  store: Store,
  pki: ServerPki | undefined,
  id: string,
  namespace: string,
): Promise<{ host: string; target: AgentTarget }> {
  // Authorized as a write in the request's namespace (it runs code in a task): the task is looked
  // up in that namespace only.
  const job = jobOfTaskId(id, namespace);
  const found = job === undefined ? undefined : await getTask(store, job, id);
  if (!found) throw new NotFoundError('task', id);
  const task = { value: found };
  if (task.value.host === null)
    throw new DabbaError('DABBA_E_CONFLICT', `task ${id} has not been placed on a host yet`);
  const host = await getJson<HostRecord>(store, keys.host(task.value.host));
  if (!host) throw new UnavailableError(`host ${task.value.host} is not registered`);
  return { host: task.value.host, target: await agentTarget(store, pki, host.value) };
}

/** The agent's refusal (a JSON error body) as the error to answer with. */
function agentRefusal(status: number, text: string, id: string, host: string): DabbaError {
  let body: { code?: string; message?: string } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // keep the generic message below
  }
  const code = body.code !== undefined && isErrorCode(body.code) ? body.code : 'DABBA_E_UNAVAILABLE';
  return new DabbaError(code, body.message ?? `agent answered HTTP ${status}`, {
    details: { task: id, host },
  });
}

/** `dabba exec -i/-t`: the upgrade, proxied to the agent as bytes once both have switched. */
async function interactiveExec(
  store: Store,
  pki: ServerPki | undefined,
  ctx: RouteContext,
  upgrade: NonNullable<RouteContext['upgrade']>,
): Promise<undefined> {
  const id = ctx.params['id'] ?? '';
  if ((ctx.req.headers.upgrade ?? '').toLowerCase() !== EXEC_UPGRADE_PROTOCOL)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `exec upgrades only to ${EXEC_UPGRADE_PROTOCOL}`);
  const spec = parseExecQuery(ctx.query);
  if (typeof spec === 'string') throw new DabbaError('DABBA_E_BAD_REQUEST', `exec request: ${spec}`);
  const { host, target } = await taskAgent(store, pki, id, ctx.namespace);
  let up;
  try {
    up = await agentUpgrade(
      target,
      `/v1/exec/${encodeURIComponent(id)}?${execQuery(spec)}`,
      EXEC_UPGRADE_PROTOCOL,
      ctx.signal,
    );
  } catch (cause) {
    throw new UnavailableError(`cannot reach the agent of host ${host} to exec`, { cause });
  }
  if (!up.upgraded) throw agentRefusal(up.status, up.body, id, host);
  const client = upgrade.socket;
  const agent = up.socket;
  const close = (): void => {
    client.destroy();
    agent.destroy();
  };
  client.on('error', close);
  agent.on('error', close);
  client.on('close', close);
  agent.on('close', close);
  if (client.destroyed) {
    close();
    return undefined;
  }
  client.write(EXEC_SWITCHING);
  if (up.head.length > 0) client.write(up.head);
  if (upgrade.head.length > 0) agent.write(upgrade.head);
  client.pipe(agent);
  agent.pipe(client);
  return undefined;
}

export function execRoutes(router: Router, store: Store, pki?: ServerPki): void {
  router.on(
    'POST',
    '/v1/tasks/:id/exec',
    async (ctx) => {
      if (ctx.upgrade) return interactiveExec(store, pki, ctx, ctx.upgrade);
      const { req, params, res, signal, namespace } = ctx;
      const id = params['id'] ?? '';
      const { command } = parseBody(execSchema, await readJsonBody(req), 'exec request');
      const { host, target } = await taskAgent(store, pki, id, namespace);
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
        throw new UnavailableError(`cannot reach the agent of host ${host} to exec`, { cause });
      }
      if (!upstream.ok || !upstream.body)
        throw agentRefusal(upstream.status, await upstream.text(), id, host);
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
    },
    200,
    { upgrade: true },
  );
}

/**
 * Commands to a host's agent (model/host-command.ts): `GET /v1/hosts/:id/commands` (those not
 * answered yet, with the revision read at, for the agent to watch /hostcmds/HOST/ from) and
 * `POST /v1/hosts/:id/commands/:cmd/result` ({ok, detail}: the agent's answer, written into the
 * record once; the server side that asked reads it). Both for that host's credential (or admin).
 */
import { z } from 'zod';
import { DabbaError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { keys, type HostCommand, type HostCommandsView } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { getJson } from '../state/json.ts';
import { parseBody } from '../state/parse.ts';

const resultSchema = z.strictObject({ ok: z.boolean(), detail: z.string().max(2000) });

export function hostCommandRoutes(router: Router, store: Store, clock: Clock): void {
  router.on('GET', '/v1/hosts/:id/commands', async ({ params }): Promise<HostCommandsView> => {
    const { kvs, revision } = await store.range(keys.hostCommandsPrefix(params['id'] ?? ''));
    const commands = kvs.map((kv) => JSON.parse(kv.value) as HostCommand);
    return { revision, commands: commands.filter((c) => c.result === undefined) };
  });

  router.on('POST', '/v1/hosts/:id/commands/:cmd/result', async ({ req, params }) => {
    const body = parseBody(resultSchema, await readJsonBody(req), 'command result');
    const host = params['id'] ?? '';
    const id = params['cmd'] ?? '';
    const key = keys.hostCommand(host, id);
    const got = await getJson<HostCommand>(store, key);
    if (got === undefined) throw new NotFoundError('command', `${host}/${id}`);
    if (got.value.result !== undefined)
      throw new DabbaError('DABBA_E_CONFLICT', `command ${id} of host ${host} was already answered`);
    const next: HostCommand = { ...got.value, result: { ...body, at: clock.now() } };
    const r = await store.txn({
      compare: [{ key, target: 'mod', op: '=', modRevision: got.kv.modRevision }],
      success: [{ type: 'put', key, value: JSON.stringify(next) }],
    });
    if (!r.succeeded)
      throw new DabbaError('DABBA_E_CONFLICT', `command ${id} of host ${host} changed; try again`);
    return { ok: true };
  });
}

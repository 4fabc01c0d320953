/**
 * Remediation's `restart-runtime`: the server cannot reach into a host, so it writes a command for
 * the host's agent (/hostcmds/HOST/ID, model/host-command.ts), which the agent sees through its watch
 * (as it sees its assignments), carries out (the runtime's host setup again, running tasks kept) and
 * answers in the same record. This waits for the answer, up to a bound, and deletes the record: the
 * remediation log keeps what happened.
 */
import { DabbaError } from '../../errors/index.ts';
import { shortId, sleep, type Clock } from '../../lib/index.ts';
import { keys, type HostCommand, type HostRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { getJson } from '../state/json.ts';

/** How long the agent has to answer (its runtime's setup included). */
export const RESTART_RUNTIME_TIMEOUT_MS = 60_000;
const POLL_MS = 250;

/** Asks the agent of `host` to restart its runtime; returns the agent's account. Throws what went wrong. */
export async function restartRuntime(
  store: Store,
  clock: Clock,
  host: string,
  reason: string,
  timeoutMs = RESTART_RUNTIME_TIMEOUT_MS,
): Promise<string> {
  if ((await getJson<HostRecord>(store, keys.host(host))) === undefined)
    throw new DabbaError('DABBA_E_NOT_FOUND', `host ${host} is not registered`);
  const command: HostCommand = { id: shortId(8), host, action: 'restart-runtime', reason, at: clock.now() };
  const key = keys.hostCommand(host, command.id);
  const put = await store.txn({
    compare: [{ key, target: 'create', op: '=', createRevision: 0 }],
    success: [{ type: 'put', key, value: JSON.stringify(command) }],
  });
  if (!put.succeeded) throw new DabbaError('DABBA_E_CONFLICT', `command ${key} already exists`);
  const until = performance.now() + timeoutMs;
  for (;;) {
    const got = await getJson<HostCommand>(store, key);
    const result = got?.value.result;
    if (result !== undefined) {
      await store.txn({ compare: [], success: [{ type: 'delete', key }] });
      if (result.ok) return `agent: ${result.detail}`;
      throw new DabbaError(
        'DABBA_E_UNAVAILABLE',
        `the agent of host ${host} could not restart its runtime: ${result.detail}`,
      );
    }
    if (got === undefined) throw new DabbaError('DABBA_E_CONFLICT', `the command ${key} was deleted`);
    if (performance.now() >= until) {
      // Unanswered: withdrawn, so an agent that comes back later does not act on a stale request.
      const r = await store.txn({
        compare: [{ key, target: 'mod', op: '=', modRevision: got.kv.modRevision }],
        success: [{ type: 'delete', key }],
      });
      if (!r.succeeded) continue; // the answer came meanwhile
      throw new DabbaError(
        'DABBA_E_TIMEOUT',
        `the agent of host ${host} did not answer within ${Math.round(timeoutMs / 1000)} s (is it running?); the request was withdrawn`,
      );
    }
    await sleep(POLL_MS);
  }
}

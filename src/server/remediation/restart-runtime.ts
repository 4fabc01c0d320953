/**
 * Remediation's `restart-runtime`: the server cannot reach into a host, so it writes a command for
 * the host's agent (/hostcmds/HOST/ID, model/host-command.ts), which the agent sees through its watch
 * (as it sees its assignments), carries out (the runtime's host setup again, running tasks kept) and
 * answers in the same record. This waits for the answer, up to a bound, and deletes the record: the
 * remediation log keeps what happened.
 */
import { DabbaError } from '../../errors/index.ts';
import { shortId, type Clock } from '../../lib/index.ts';
import { keys, type HostCommand, type HostRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { getJson } from '../state/json.ts';

/** How long the agent has to answer (its runtime's setup included). */
export const RESTART_RUNTIME_TIMEOUT_MS = 60_000;

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
  // The agent's answer arrives as a change of the record: watch it from the create on.
  const deadline = AbortSignal.timeout(timeoutMs);
  try {
    for await (const batch of store.watch(key, { signal: deadline, fromRevision: put.revision + 1 })) {
      for (const e of batch) {
        if (e.kv.key !== key) continue;
        if (e.type === 'delete') throw new DabbaError('DABBA_E_CONFLICT', `the command ${key} was deleted`);
        const result = (JSON.parse(e.kv.value) as HostCommand).result;
        if (result === undefined) continue;
        await store.txn({ compare: [], success: [{ type: 'delete', key }] });
        return answered(host, result);
      }
    }
  } catch (e) {
    if (!deadline.aborted) throw e;
  }
  // Unanswered: withdrawn (only if still unanswered), so that an agent that comes back later does
  // not act on a stale request; an answer that came at the last moment is reported.
  const got = await getJson<HostCommand>(store, key);
  if (got === undefined) throw new DabbaError('DABBA_E_CONFLICT', `the command ${key} was deleted`);
  const withdrawn = await store.txn({
    compare: [{ key, target: 'mod', op: '=', modRevision: got.kv.modRevision }],
    success: [{ type: 'delete', key }],
  });
  const late = withdrawn.succeeded
    ? got.value.result
    : (await getJson<HostCommand>(store, key))?.value.result;
  if (late !== undefined) {
    await store.txn({ compare: [], success: [{ type: 'delete', key }] });
    return answered(host, late);
  }
  throw new DabbaError(
    'DABBA_E_TIMEOUT',
    `the agent of host ${host} did not answer within ${Math.round(timeoutMs / 1000)} s (is it running?); the request was withdrawn`,
  );
}

/** The agent's account of a restart, or what it said went wrong. */
function answered(host: string, result: NonNullable<HostCommand['result']>): string {
  if (result.ok) return `agent: ${result.detail}`;
  throw new DabbaError(
    'DABBA_E_UNAVAILABLE',
    `the agent of host ${host} could not restart its runtime: ${result.detail}`,
  );
}

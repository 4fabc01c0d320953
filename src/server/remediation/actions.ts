/**
 * What a remediation decision does: cordon or drain a host (as `dabba host cordon|drain` would),
 * have a host's agent restart its runtime (restart-runtime.ts), roll a job back to its last good
 * version (as `dabba rollback`), or call a hook (POST of the decision as JSON; a 2xx answer within
 * 10 s is success). Each action taken is also an event.
 */
import { DabbaError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { Decision } from '../../remediation/index.ts';
import type { Store } from '../../store/index.ts';
import type { EventLog } from '../state/events.ts';
import { setHostSchedulable } from '../state/hosts.ts';
import { rollbackJob } from '../state/jobs.ts';
import { restartRuntime } from './restart-runtime.ts';

/** How long a hook has to answer. */
export const HOOK_TIMEOUT_MS = 10_000;

/** Does the action; returns a detail for the record. Throws what went wrong. */
export async function act(
  o: { store: Store; clock: Clock; events: EventLog; restartRuntimeTimeoutMs?: number },
  d: Decision,
): Promise<string | undefined> {
  const why = `remediation rule ${d.rule.name}: ${d.reason}`;
  const a = d.rule.do;
  if (typeof a !== 'string') {
    const res = await fetch(a.hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        rule: d.rule.name,
        target: d.target,
        host: d.host,
        job: d.job,
        reason: d.reason,
      }),
      signal: AbortSignal.timeout(HOOK_TIMEOUT_MS),
    });
    const text = (await res.text()).slice(0, 200);
    if (!res.ok) throw new DabbaError('DABBA_E_UNAVAILABLE', `the hook answered ${res.status}: ${text}`);
    await o.events.append([
      {
        kind: 'RemediationHook',
        ...(d.host ? { host: d.host } : {}),
        ...(d.job ? { job: d.job } : {}),
        message: `${why}; hook ${a.hook.url} called`,
      },
    ]);
    return `hook answered ${res.status}`;
  }
  if (a === 'cordon' || a === 'drain') {
    const host = d.host ?? '';
    const r = await setHostSchedulable(o.store, host, a === 'cordon' ? 'cordoned' : 'draining');
    if (r.changed) {
      await o.events.append([
        {
          kind: a === 'cordon' ? 'HostCordoned' : 'HostDraining',
          host,
          message: `host ${host} ${a === 'cordon' ? 'cordoned' : 'draining'} by ${why}`,
        },
      ]);
    }
    return r.changed ? undefined : `host ${host} was already ${r.schedulable}`;
  }
  if (a === 'restart-runtime') {
    const host = d.host ?? '';
    const done = await restartRuntime(o.store, o.clock, host, why, o.restartRuntimeTimeoutMs);
    await o.events.append([
      { kind: 'HostRuntimeRestarted', host, message: `host ${host}: runtime restarted by ${why}; ${done}` },
    ]);
    return done;
  }
  const job = d.job ?? '';
  const r = await rollbackJob(o.store, job, undefined, o.clock);
  await o.events.append([
    {
      kind: 'JobRolledBack',
      job,
      message: `job ${job} rolled back from version ${r.from} to ${r.to} by ${why}`,
    },
  ]);
  return `version ${r.from} -> ${r.to} (now version ${r.version})`;
}

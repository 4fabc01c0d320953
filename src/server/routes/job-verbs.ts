/**
 * `dabba scale` and `dabba restart`: a new version of the job made from the current one, rolled out
 * like any deploy (the scheduler's rollout, under the job's update budget).
 *  - POST /v1/jobs/NAME/scale {replicas}: only `replicas` changes.
 *  - POST /v1/jobs/NAME/restart {}: only `task.env.DABBA_RESTARTED_AT` changes (as `kubectl rollout
 *    restart` sets an annotation), so every task is replaced by a new one, a few at a time.
 */
import { z } from 'zod';
import { ConflictError, DabbaError, NotFoundError } from '../../errors/index.ts';
import { quotaGuard } from '../../auth/index.ts';
import type { Clock } from '../../lib/index.ts';
import { NAME_PATTERN } from '../../lib/index.ts';
import { ALL_NAMESPACES, jobId, keys, splitJobId } from '../../model/index.ts';
import type { JobRecord, JobSpec, JobVersionRecord, PutJobResult } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import type { EventLog } from '../state/events.ts';
import { getJson } from '../state/json.ts';
import { parseBody } from '../state/parse.ts';

/** The environment variable a restart sets in the task's spec (its value: when, ISO 8601). */
export const RESTART_ENV = 'DABBA_RESTARTED_AT';

const scaleSchema = z.strictObject({ replicas: z.number().int().min(0).max(10_000) });
const restartSchema = z.strictObject({});

/**
 * Stores `change(current spec)` as a new version, compare-and-swap on the job record that was read
 * (a concurrent deploy wins and this retries on top of it). Undefined from `change`: nothing to do.
 */
async function deriveVersion(
  store: Store,
  name: string,
  clock: Clock,
  change: (spec: JobSpec) => JobSpec | undefined,
  events: EventLog,
  what: (version: number) => string,
): Promise<PutJobResult & { from: number }> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await getJson<JobRecord>(store, keys.job(name));
    if (!current) throw new NotFoundError('job', name);
    if (current.value.status !== 'active') {
      throw new ConflictError(`job "${name}" is stopped; deploy its job file to start it again`, {
        details: { status: current.value.status },
      });
    }
    const spec = change(current.value.spec);
    const from = current.value.version;
    const plain = splitJobId(name).name;
    if (spec === undefined) return { job: plain, version: from, changed: false, from };
    // A scale up counts against the namespace's quota like a deploy (checked in the same txn).
    const guard = await quotaGuard(store, spec);
    const now = clock.now();
    const version = from + 1;
    const record: JobRecord = { ...current.value, version, spec, updatedAt: now };
    const versionRecord: JobVersionRecord = { name, version, spec, createdAt: now };
    const r = await store.txn({
      compare: [
        { key: keys.job(name), target: 'mod', op: '=', modRevision: current.kv.modRevision },
        ...guard.compare,
      ],
      success: [
        ...guard.success,
        { type: 'put', key: keys.job(name), value: JSON.stringify(record) },
        { type: 'put', key: keys.jobVersion(name, version), value: JSON.stringify(versionRecord) },
        ...events.ops([{ kind: 'JobVersion', job: name, message: what(version) }]),
      ],
    });
    if (r.succeeded) return { job: plain, version, changed: true, from };
  }
  throw new ConflictError(`job "${name}" is being changed by someone else; try again`);
}

/** The job's id in the request's namespace (one namespace: a write). */
function jobIdOf(params: Record<string, string>, namespace: string): string {
  const name = params['name'] ?? '';
  // A job name never holds a `:` (that would name another namespace's job): not found, as any
  // name no job has.
  if (!NAME_PATTERN.test(name)) throw new NotFoundError('job', name);
  if (namespace === ALL_NAMESPACES)
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'name one namespace (?namespace=NS) for a single job');
  return jobId(namespace, name);
}

export function jobVerbRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  router.on('POST', '/v1/jobs/:name/scale', async ({ req, params, namespace }) => {
    const name = jobIdOf(params, namespace);
    const { replicas } = parseBody(scaleSchema, await readJsonBody(req), 'scale request');
    return deriveVersion(
      store,
      name,
      clock,
      (spec) => (spec.replicas === replicas ? undefined : { ...spec, replicas }),
      events,
      (v) => `job ${name} scaled to ${replicas} replicas (version ${v})`,
    );
  });

  router.on('POST', '/v1/jobs/:name/restart', async ({ req, params, namespace }) => {
    const name = jobIdOf(params, namespace);
    parseBody(restartSchema, await readJsonBody(req), 'restart request');
    const at = new Date(clock.now()).toISOString();
    return deriveVersion(
      store,
      name,
      clock,
      (spec) => ({ ...spec, task: { ...spec.task, env: { ...spec.task.env, [RESTART_ENV]: at } } }),
      events,
      (v) => `job ${name} restarted: every task is replaced (version ${v})`,
    );
  });
}

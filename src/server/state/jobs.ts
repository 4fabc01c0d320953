import { isDeepStrictEqual } from 'node:util';
import { ConflictError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { JobRecord, JobSpec, JobVersionRecord, PutJobResult } from '../../model/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { getJson } from './json.ts';

const MAX_ATTEMPTS = 10;

/**
 * Stores a job spec as a new version (or re-activates a stopped job). A spec equal to the current
 * active version is not a new version. Compare-and-swap on the job key: concurrent writers retry.
 */
export async function putJobVersion(store: Store, spec: JobSpec, clock: Clock): Promise<PutJobResult> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await getJson<JobRecord>(store, keys.job(spec.name));
    if (current && current.value.status === 'active' && isDeepStrictEqual(current.value.spec, spec)) {
      return { job: spec.name, version: current.value.version, changed: false };
    }
    const now = clock.now();
    const version = (current?.value.version ?? 0) + 1;
    const record: JobRecord = {
      name: spec.name,
      version,
      status: 'active',
      spec,
      createdAt: current?.value.createdAt ?? now,
      updatedAt: now,
    };
    const versionRecord: JobVersionRecord = { name: spec.name, version, spec, createdAt: now };
    const r = await store.txn({
      compare: [
        { key: keys.job(spec.name), target: 'mod', op: '=', modRevision: current?.kv.modRevision ?? 0 },
      ],
      success: [
        { type: 'put', key: keys.job(spec.name), value: JSON.stringify(record) },
        { type: 'put', key: keys.jobVersion(spec.name, version), value: JSON.stringify(versionRecord) },
      ],
    });
    if (r.succeeded) return { job: spec.name, version, changed: true };
  }
  throw new ConflictError(`job "${spec.name}" is being changed by someone else; try again`);
}

/** Marks a job stopped: the scheduler then stops all its tasks. Idempotent. */
export async function stopJob(
  store: Store,
  name: string,
  clock: Clock,
): Promise<{ job: string; stopped: boolean }> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await getJson<JobRecord>(store, keys.job(name));
    if (!current) throw new NotFoundError('job', name);
    if (current.value.status === 'stopped') return { job: name, stopped: false };
    const record: JobRecord = { ...current.value, status: 'stopped', updatedAt: clock.now() };
    const r = await store.txn({
      compare: [{ key: keys.job(name), target: 'mod', op: '=', modRevision: current.kv.modRevision }],
      success: [{ type: 'put', key: keys.job(name), value: JSON.stringify(record) }],
    });
    if (r.succeeded) return { job: name, stopped: true };
  }
  throw new ConflictError(`job "${name}" is being changed by someone else; try again`);
}

export async function getJobRecord(store: Store, name: string): Promise<JobRecord> {
  const current = await getJson<JobRecord>(store, keys.job(name));
  if (!current) throw new NotFoundError('job', name);
  return current.value;
}

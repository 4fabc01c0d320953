import { isDeepStrictEqual } from 'node:util';
import { ConflictError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { Deployment, JobRecord, JobSpec, JobVersionRecord, PutJobResult } from '../../model/index.ts';
import { DEFAULT_NAMESPACE, jobId, keys } from '../../model/index.ts';
import type { Store, TxnOp } from '../../store/index.ts';
import { quotaGuard } from '../../auth/index.ts';
import { getJson } from './json.ts';

const MAX_ATTEMPTS = 10;

/**
 * Stores a job spec as a new version (or re-activates a stopped job). A spec equal to the current
 * active version is not a new version. Compare-and-swap on the job key: concurrent writers retry.
 * The namespace's quota is checked in the same transaction (DABBA_E_QUOTA_EXCEEDED, nothing stored).
 * `alsoWrite(version)`: more operations for that transaction when a new version is written (the
 * event saying so), so they are stored with it or not at all.
 */
export async function putJobVersion(
  store: Store,
  spec: JobSpec,
  clock: Clock,
  alsoWrite?: (version: number) => TxnOp[],
): Promise<PutJobResult> {
  const id = jobId(spec.namespace ?? DEFAULT_NAMESPACE, spec.name);
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // Both reads in one store round trip (a deploy waits for each behind the scheduler's commits);
    // the quota's verdict only counts for a new version, as before.
    const guarded = quotaGuard(store, spec);
    guarded.catch(() => undefined);
    const current = await getJson<JobRecord>(store, keys.job(id));
    if (current && current.value.status === 'active' && isDeepStrictEqual(current.value.spec, spec)) {
      return { job: spec.name, version: current.value.version, changed: false };
    }
    const guard = await guarded;
    const now = clock.now();
    const version = (current?.value.version ?? 0) + 1;
    const record: JobRecord = {
      name: id,
      version,
      status: 'active',
      spec,
      createdAt: current?.value.createdAt ?? now,
      updatedAt: now,
    };
    const versionRecord: JobVersionRecord = { name: id, version, spec, createdAt: now };
    const r = await store.txn({
      compare: [
        { key: keys.job(id), target: 'mod', op: '=', modRevision: current?.kv.modRevision ?? 0 },
        ...guard.compare,
      ],
      success: [
        { type: 'put', key: keys.job(id), value: JSON.stringify(record) },
        { type: 'put', key: keys.jobVersion(id, version), value: JSON.stringify(versionRecord) },
        ...guard.success,
        ...(alsoWrite?.(version) ?? []),
      ],
    });
    if (r.succeeded) return { job: spec.name, version, changed: true };
  }
  throw new ConflictError(`job "${spec.name}" is being changed by someone else; try again`);
}

/**
 * Marks a job stopped (by id): the scheduler then stops all its tasks. Idempotent. `also` as for
 * putJobVersion (written only when the job is stopped now).
 */
export async function stopJob(
  store: Store,
  name: string,
  clock: Clock,
  also: () => TxnOp[] = () => [],
): Promise<{ job: string; stopped: boolean }> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await getJson<JobRecord>(store, keys.job(name));
    if (!current) throw new NotFoundError('job', name);
    if (current.value.status === 'stopped') return { job: name, stopped: false };
    const record: JobRecord = { ...current.value, status: 'stopped', updatedAt: clock.now() };
    const r = await store.txn({
      compare: [{ key: keys.job(name), target: 'mod', op: '=', modRevision: current.kv.modRevision }],
      success: [{ type: 'put', key: keys.job(name), value: JSON.stringify(record) }, ...also()],
    });
    if (r.succeeded) return { job: name, stopped: true };
  }
  throw new ConflictError(`job "${name}" is being changed by someone else; try again`);
}

/** What `purgeJob` removed: the job's record, its versions and its deployments. */
export interface PurgeJobResult {
  job: string;
  purged: true;
  versions: number;
  deployments: number;
}

/**
 * Removes a stopped job's records: the job, its versions, its deployments, its volume records (the
 * agents then delete the volumes: docs/volumes.md) and task status records an agent may have left
 * behind, in one transaction; events stay. Refused (409) while the job is
 * active or still has tasks: stop it and wait for its tasks first. The transaction compares the job
 * record read here, so a deploy or a change racing with it wins and the purge is tried again (no
 * task appears for a stopped job: the scheduler fences its plans on the same record). After a purge
 * the name is free: the next deploy of it is version 1.
 */
export async function purgeJob(
  store: Store,
  name: string,
  extraOps: (r: Omit<PurgeJobResult, 'purged'>) => TxnOp[] = () => [],
): Promise<PurgeJobResult> {
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    const current = await getJson<JobRecord>(store, keys.job(name));
    if (!current) throw new NotFoundError('job', name);
    if (current.value.status !== 'stopped') {
      throw new ConflictError(
        `job "${name}" is active; stop it first (dabba stop ${name} --purge stops it, waits for its tasks and purges it)`,
        { details: { job: name, status: current.value.status } },
      );
    }
    const [tasks, versions, deployments] = await Promise.all([
      store.range(keys.jobTasksPrefix(name)),
      store.range(keys.jobVersionsPrefix(name)),
      store.range(keys.jobDeploymentsPrefix(name)),
    ]);
    if (tasks.kvs.length > 0) {
      throw new ConflictError(
        `job "${name}" still has ${tasks.kvs.length} task${tasks.kvs.length === 1 ? '' : 's'}; wait until they have stopped (dabba status ${name}) and purge again`,
        { details: { job: name, tasks: tasks.kvs.length } },
      );
    }
    const counts = { job: name, versions: versions.kvs.length, deployments: deployments.kvs.length };
    const r = await store.txn({
      compare: [{ key: keys.job(name), target: 'mod', op: '=', modRevision: current.kv.modRevision }],
      success: [
        { type: 'delete', key: keys.job(name) },
        { type: 'deletePrefix', prefix: keys.jobVersionsPrefix(name) },
        { type: 'deletePrefix', prefix: keys.jobDeploymentsPrefix(name) },
        { type: 'deletePrefix', prefix: keys.jobStatusPrefix(name) },
        // What its TaskControl controller held up, if it had one (written by the scheduler).
        { type: 'delete', key: keys.taskControl(name) },
        // Where its volumes were: each agent deletes the directories no record names any more.
        { type: 'deletePrefix', prefix: keys.jobVolumesPrefix(name) },
        ...extraOps(counts),
      ],
    });
    if (r.succeeded) return { ...counts, purged: true };
  }
  throw new ConflictError(`job "${name}" is being changed by someone else; try again`);
}

export async function getJobRecord(store: Store, name: string): Promise<JobRecord> {
  const current = await getJson<JobRecord>(store, keys.job(name));
  if (!current) throw new NotFoundError('job', name);
  return current.value;
}

/**
 * Rolls a job back: stores the spec of `toVersion` (default: the newest older version whose
 * deployment succeeded, else the previous version) as a new version.
 */
export async function rollbackJob(
  store: Store,
  name: string,
  toVersion: number | undefined,
  clock: Clock,
  also: (to: number, version: number) => TxnOp[] = () => [],
): Promise<PutJobResult & { from: number; to: number }> {
  const job = await getJobRecord(store, name);
  const versions = (await store.range(keys.jobVersionsPrefix(name))).kvs.map(
    (kv) => JSON.parse(kv.value) as JobVersionRecord,
  );
  let target = toVersion;
  if (target === undefined) {
    const deployments = (await store.range(keys.jobDeploymentsPrefix(name))).kvs.map(
      (kv) => JSON.parse(kv.value) as Deployment,
    );
    const good = deployments
      .filter((d) => d.state === 'succeeded' && d.version < job.version)
      .map((d) => d.version)
      .sort((a, b) => b - a);
    target = good[0] ?? (job.version > 1 ? job.version - 1 : undefined);
    if (target === undefined) {
      throw new ConflictError(`job "${name}" has only one version; there is nothing to roll back to`);
    }
  }
  const record = versions.find((v) => v.version === target);
  if (!record) {
    throw new NotFoundError('version', `${name}@${target}`, {
      details: { versions: versions.map((v) => v.version) },
    });
  }
  const to = target;
  const result = await putJobVersion(store, record.spec, clock, (version) => also(to, version));
  if (!result.changed) {
    throw new ConflictError(
      `job "${name}" already runs the spec of version ${target} (version ${job.version}); nothing to roll back`,
    );
  }
  return { ...result, from: job.version, to: target };
}

import { ConflictError, DabbaError, NotFoundError, ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { NAME_PATTERN } from '../../lib/index.ts';
import { ALL_NAMESPACES, DEFAULT_NAMESPACE, formatIssue, jobId, keys } from '../../model/index.ts';
import { validateJob } from '../../model/files.ts';
import type {
  Deployment,
  JobRecord,
  JobSpec,
  JobVersionRecord,
  TaskStatus,
  TaskView,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Router } from '../http/router.ts';
import { readJsonBody } from '../http/body.ts';
import { sendJsonText } from '../http/respond.ts';
import { getJobRecord, purgeJob, putJobVersion, rollbackJob, stopJob } from '../state/jobs.ts';
import { parseBody } from '../state/parse.ts';
import { rollbackSchema } from '../state/wire-schemas.ts';
import { getJson, rangeJson, rangeTasks } from '../state/json.ts';
import { dryRun } from '../dry-run.ts';
import { promoteDeployment } from '../../scheduler/index.ts';
import { hostViews, jobSummaries, jobTaskRows, jobView } from '../state/views.ts';
import type { EventLog } from '../state/events.ts';
import type { Digest } from '../../image/index.ts';

/** What deploy and plan ask of the images: which digest a reference names in the cluster. */
export interface ImageResolver {
  resolve(ref: string): Promise<Digest | undefined>;
}
import type { Unrunnable } from '../../model/index.ts';
import { unrunnable, type HostKind } from '../runnable.ts';

/** Whether some host can run the spec's task (runtimes and image), as plan and deploy both see it. */
async function runnability(
  spec: JobSpec,
  hosts: readonly HostKind[],
  images: ImageResolver | undefined,
): Promise<Unrunnable | undefined> {
  const image = spec.task.image;
  const known =
    image === undefined || images === undefined ? undefined : (await images.resolve(image)) !== undefined;
  return unrunnable(spec, hosts, known);
}

function checkName(name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw new ValidationError(`"${name}" is not a valid job name (lowercase letters, digits and dashes)`, [
      { path: 'name', message: 'must be a lowercase DNS label', found: name },
    ]);
  }
  return name;
}

/** A single namespace for a job route (`*` lists only). */
function oneNamespace(ns: string): string {
  if (ns === ALL_NAMESPACES) {
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'name one namespace (?namespace=NS) for a single job', {
      details: { namespace: ns },
    });
  }
  return ns;
}

/** The id of the job named in the URL, in the request's namespace. */
function idOf(params: Record<string, string>, ns: string): { id: string; name: string } {
  const name = checkName(params['name'] ?? '');
  return { id: jobId(oneNamespace(ns), name), name };
}

/**
 * Validates a job body (the job file as JSON) for the job named in the URL, in namespace `ns`. A
 * body without `namespace:` goes in `ns`; one with another namespace is refused.
 */
function validOrThrow(name: string, body: unknown, ns: string): JobSpec {
  const r = validateJob(body);
  if (!r.ok) {
    throw new ValidationError(
      `invalid job "${name}": ${r.issues.length} problem${r.issues.length === 1 ? '' : 's'}: ${r.issues
        .map(formatIssue)
        .join('; ')}`,
      r.issues,
    );
  }
  if (r.spec.name !== name) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `job name in the body ("${r.spec.name}") differs from the URL ("${name}")`,
      { details: { path: 'name', url: name, body: r.spec.name } },
    );
  }
  const bodyNs = r.spec.namespace ?? DEFAULT_NAMESPACE;
  const hasNs = typeof body === 'object' && body !== null && 'namespace' in body;
  if (hasNs && bodyNs !== ns) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `the job file's namespace ("${bodyNs}") differs from the request's ("${ns}"); deploy with -n ${bodyNs}`,
      { details: { path: 'namespace', request: ns, body: bodyNs } },
    );
  }
  const spec = { ...r.spec };
  if (ns === DEFAULT_NAMESPACE) delete spec.namespace;
  else spec.namespace = ns;
  return spec;
}

/** What the scheduler's cache can answer instead of the store (each undefined when it cannot). */
export interface CachedReads {
  /** The hosts' states and runtimes, once the cache is loaded. */
  hosts?: (() => readonly HostKind[] | undefined) | undefined;
  /** A job's view as JSON text, when the cache holds every committed write (server/cached-job-view.ts). */
  jobJson?: ((id: string) => string | undefined) | undefined;
}

export function jobRoutes(
  router: Router,
  store: Store,
  clock: Clock,
  events: EventLog,
  images?: ImageResolver,
  cached: CachedReads = {},
): void {
  jobLifecycleRoutes(router, store, clock, events, images, cached);
  jobPlanRoutes(router, store, images);
  jobRolloutRoutes(router, store, clock, events);
  jobRecordRoutes(router, store);
}

/** A job's life: list, deploy (a new version), read, stop or purge. */
function jobLifecycleRoutes(
  router: Router,
  store: Store,
  clock: Clock,
  events: EventLog,
  images: ImageResolver | undefined,
  cached: CachedReads,
): void {
  router.on('GET', '/v1/jobs', ({ namespace }) => jobSummaries(store, namespace));

  router.on('PUT', '/v1/jobs/:name', async ({ req, params, namespace }) => {
    const { id, name: plain } = idOf(params, namespace);
    const spec = validOrThrow(plain, await readJsonBody(req), namespace);
    // The scheduler cache's hosts when loaded: a deploy must not read every host and assignment.
    const hosts = cached.hosts?.() ?? (await hostViews(store));
    const cannot = await runnability(spec, hosts, images);
    if (cannot) {
      throw new DabbaError('DABBA_E_UNRUNNABLE', cannot.message, {
        details: {
          reason: cannot.code,
          runtimes: cannot.runtimes,
          ...(cannot.image ? { image: cannot.image } : {}),
        },
      });
    }
    // The event goes in the version's own transaction: one store round trip less per deploy.
    return putJobVersion(store, spec, clock, (version) =>
      events.ops([{ kind: 'JobVersion', job: id, message: `job ${id} version ${version} submitted` }]),
    );
  });

  router.on('GET', '/v1/jobs/:name', async ({ res, params, namespace }) => {
    const { id } = idOf(params, namespace);
    const text = cached.jobJson?.(id);
    if (text === undefined) return jobView(store, id);
    sendJsonText(res, 200, text);
    return undefined;
  });

  router.on('DELETE', '/v1/jobs/:name', async ({ params, query, namespace }) => {
    const { id: name, name: plain } = idOf(params, namespace);
    const purge = query.get('purge');
    if (purge !== null && purge !== '0' && purge !== 'false') {
      // ?purge=1: remove a stopped job's records, with the event that says so, in one transaction.
      return purgeJob(store, name, (r) =>
        events.ops([
          {
            kind: 'JobPurged',
            job: name,
            message: `job ${plain} purged (${r.versions} version${r.versions === 1 ? '' : 's'} removed)`,
          },
        ]),
      );
    }
    const r = await stopJob(store, name, clock, () =>
      events.ops([{ kind: 'JobStopped', job: name, message: `job ${name} stopped` }]),
    );
    return { ...r, job: plain };
  });
}

/** What a deploy would do (dry run), without doing it. */
function jobPlanRoutes(router: Router, store: Store, images: ImageResolver | undefined): void {
  router.on('POST', '/v1/jobs/:name/plan', async ({ req, params, namespace }) => {
    const { id: name, name: plain } = idOf(params, namespace);
    const spec = validOrThrow(plain, await readJsonBody(req), namespace);
    const [current, tasks, statuses, hosts] = await Promise.all([
      getJson<JobRecord>(store, keys.job(name)),
      rangeTasks(store, keys.jobTasksPrefix(name), name),
      rangeJson<TaskStatus>(store, keys.jobStatusPrefix(name)),
      hostViews(store),
    ]);
    const byId = new Map(statuses.map((st) => [st.id, st]));
    const views: TaskView[] = tasks.map((t) => {
      const st = byId.get(t.id);
      return st ? { ...t, status: st } : t;
    });
    const plan = dryRun({ spec, current: current?.value, tasks: views, hosts });
    const cannot = await runnability(spec, hosts, images);
    return cannot ? { ...plan, unrunnable: cannot } : plan;
  });
}

/** Steering a rollout: promote a canary, roll back to an earlier version. */
function jobRolloutRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  router.on('POST', '/v1/jobs/:name/promote', async ({ params, namespace }) => {
    const { id: name } = idOf(params, namespace);
    for (let attempt = 0; attempt < 10; attempt++) {
      const job = await getJson<JobRecord>(store, keys.job(name));
      if (!job) throw new NotFoundError('job', name);
      const key = keys.deployment(name, job.value.version);
      const current = await getJson<Deployment>(store, key);
      const r = promoteDeployment(current?.value, clock.now());
      if (!r.ok)
        throw new ConflictError(`cannot promote ${name}: ${r.reason}`, { details: { reason: r.reason } });
      if (!r.changed) return { job: name, version: job.value.version, promoted: true, changed: false };
      // Re-put the job record unchanged: the scheduler fences its plans on it, so a plan computed
      // before this promotion cannot overwrite the flag.
      const t = await store.txn({
        compare: [
          { key, target: 'mod', op: '=', modRevision: current?.kv.modRevision ?? 0 },
          { key: keys.job(name), target: 'mod', op: '=', modRevision: job.kv.modRevision },
        ],
        success: [
          { type: 'put', key, value: JSON.stringify(r.deployment) },
          { type: 'put', key: keys.job(name), value: job.kv.value },
          ...events.ops([
            {
              kind: 'DeploymentPromoted',
              job: name,
              message: `job ${name} version ${job.value.version} promoted`,
            },
          ]),
        ],
      });
      if (t.succeeded) return { job: name, version: job.value.version, promoted: true, changed: true };
    }
    throw new ConflictError(`job "${name}" is being changed by someone else; try again`);
  });

  router.on('POST', '/v1/jobs/:name/rollback', async ({ req, params, namespace }) => {
    const { id: name } = idOf(params, namespace);
    const body = parseBody(rollbackSchema, await readJsonBody(req), 'rollback request');
    return rollbackJob(store, name, body.version, clock, (to, version) =>
      events.ops([
        {
          kind: 'JobRollback',
          job: name,
          message: `job ${name} rolled back to the spec of version ${to} (as version ${version})`,
        },
      ]),
    );
  });
}

/** A job's records: its versions, tasks and deployments. */
function jobRecordRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/jobs/:name/versions', async ({ params, namespace }) => {
    const { id: name } = idOf(params, namespace);
    await getJobRecord(store, name);
    return rangeJson<JobVersionRecord>(store, keys.jobVersionsPrefix(name));
  });

  router.on('GET', '/v1/jobs/:name/tasks', async ({ params, namespace }) => {
    const { id: name } = idOf(params, namespace);
    await getJobRecord(store, name);
    return jobTaskRows(store, name);
  });

  router.on('GET', '/v1/jobs/:name/deployments', async ({ params, namespace }) => {
    const { id: name } = idOf(params, namespace);
    await getJobRecord(store, name);
    return rangeJson<Deployment>(store, keys.jobDeploymentsPrefix(name));
  });
}

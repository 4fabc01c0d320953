/**
 * Discovery, read from the store: a service is a job; its endpoints are its tasks that the
 * scheduler wants running (a task being stopped leaves first) and that their agent reports running
 * and ready, with an address.
 */
import {
  ALL_NAMESPACES,
  keys,
  namespaceOfJobId,
  splitJobId,
  type JobRecord,
  type ServiceEndpoint,
  type ServiceSummary,
  type Task,
  type TaskStatus,
} from '../../model/index.ts';
import type { Store } from '../../store/index.ts';

function parse<T>(value: string): T {
  return JSON.parse(value) as T;
}

/** Whether a task is an endpoint now, and where. */
export function endpointOf(task: Task, status: TaskStatus | undefined): ServiceEndpoint | undefined {
  if (task.desired !== 'run' || status === undefined) return undefined;
  if (status.state !== 'running' || !status.ready || status.address === undefined) return undefined;
  return {
    task: task.id,
    host: status.host,
    address: status.address,
    ports: status.ports ?? {},
    version: task.version,
  };
}

/** The endpoints of the job with this id (`ns:name`, or `name` in default), sorted by task id. */
export async function jobEndpoints(
  store: Store,
  job: string,
): Promise<{ revision: number; endpoints: ServiceEndpoint[] }> {
  const [tasks, statuses] = await Promise.all([
    store.range(keys.jobTasksPrefix(job)),
    store.range(keys.jobStatusPrefix(job)),
  ]);
  const byId = new Map(
    statuses.kvs.map((kv) => [parse<TaskStatus>(kv.value).id, parse<TaskStatus>(kv.value)]),
  );
  const endpoints: ServiceEndpoint[] = [];
  for (const kv of tasks.kvs) {
    const task = parse<Task>(kv.value);
    const e = endpointOf(task, byId.get(task.id));
    if (e !== undefined) endpoints.push(e);
  }
  endpoints.sort((a, b) => a.task.localeCompare(b.task));
  return { revision: Math.max(tasks.revision, statuses.revision), endpoints };
}

/** The services (active jobs) of namespace `ns` (`*`: all), with how many endpoints each has. */
export async function listServices(store: Store, ns: string): Promise<ServiceSummary[]> {
  const [jobs, tasks, statuses] = await Promise.all([
    store.range(keys.jobsPrefix),
    store.range(keys.tasksPrefix),
    store.range(keys.statusPrefix),
  ]);
  const statusById = new Map<string, TaskStatus>();
  for (const kv of statuses.kvs) {
    const s = parse<TaskStatus>(kv.value);
    statusById.set(s.id, s);
  }
  const ready = new Map<string, number>();
  for (const kv of tasks.kvs) {
    const t = parse<Task>(kv.value);
    if (endpointOf(t, statusById.get(t.id)) !== undefined) ready.set(t.job, (ready.get(t.job) ?? 0) + 1);
  }
  const out: ServiceSummary[] = [];
  for (const kv of jobs.kvs) {
    const job = parse<JobRecord>(kv.value);
    if (job.status !== 'active') continue;
    if (ns !== ALL_NAMESPACES && namespaceOfJobId(job.name) !== ns) continue;
    const { namespace, name } = splitJobId(job.name);
    out.push({
      service: name,
      namespace,
      ports: job.spec.task.ports.map((p) => p.name),
      replicas: job.spec.replicas,
      ready: ready.get(job.name) ?? 0,
    });
  }
  return out.sort((a, b) => a.namespace.localeCompare(b.namespace) || a.service.localeCompare(b.service));
}

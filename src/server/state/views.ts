/** Read models the API serves: jobs with their tasks, hosts with their allocation. */
import type {
  BatchStatus,
  Deployment,
  HostCapacity,
  HostRecord,
  HostView,
  JobRecord,
  JobSummary,
  JobView,
  Task,
  TaskControlState,
  TaskRow,
  TaskStatus,
} from '../../model/index.ts';
import { toUserForm } from '../../model/files.ts';
import { ALL_NAMESPACES, keys, namespaceOfJobId, splitJobId } from '../../model/index.ts';
import { drainProgress } from '../../scheduler/index.ts';
import type { Store } from '../../store/index.ts';
import { decode, getJson, rangeJson, rangeTasks } from './json.ts';
import { batchStatus } from './batch-view.ts';
import { getJobRecord } from './jobs.ts';

export function taskRow(task: Task, status: TaskStatus | undefined): TaskRow {
  const live = status !== undefined && (status.state === 'running' || status.state === 'starting');
  const { namespace, name } = splitJobId(task.job);
  return {
    id: task.id,
    job: name,
    namespace,
    host: task.host,
    state: status?.state ?? 'pending',
    desired: task.desired,
    healthy: status?.healthy ?? false,
    ready: status?.ready ?? false,
    restarts: status?.restarts ?? 0,
    version: task.version,
    address: status?.address ?? null,
    ports: status?.ports ?? {},
    pid: live ? (status.pid ?? null) : null,
    exitCode: status?.exitCode ?? null,
    lastExit: status?.lastExit ?? null,
    reason: status?.reason ?? (task.unplaced !== undefined ? 'Unplaced' : null),
    message: status?.message ?? task.unplaced ?? null,
    unplaced: task.unplaced ?? null,
    explanation: task.explanation ?? null,
    ...(task.slot === undefined ? {} : { slot: task.slot }),
    ...(task.freshVolumes === undefined ? {} : { freshVolumes: task.freshVolumes }),
    startedAt: status?.startedAt ?? null,
    createdAt: task.createdAt,
    usage: status?.usage ?? null,
    ...(task.batch === undefined ? {} : { completion: task.batch }),
    ...(task.preempted === undefined ? {} : { preempted: task.preempted }),
  };
}

export async function jobTaskRows(store: Store, job: string): Promise<TaskRow[]> {
  const [tasks, statuses] = await Promise.all([
    rangeTasks(store, keys.jobTasksPrefix(job), job),
    rangeJson<TaskStatus>(store, keys.jobStatusPrefix(job)),
  ]);
  const byId = new Map(statuses.map((s) => [s.id, s]));
  return tasks.map((t) => taskRow(t, byId.get(t.id)));
}

function counts(rows: TaskRow[]): JobView['counts'] {
  const live = rows.filter((r) => r.desired === 'run');
  return {
    running: live.filter((r) => r.state === 'running').length,
    healthy: live.filter((r) => r.state === 'running' && r.healthy).length,
    pending: live.filter((r) => r.state === 'pending' || r.state === 'starting').length,
    failed: live.filter((r) => r.state === 'failed').length,
    total: rows.length,
  };
}

export async function jobView(store: Store, name: string): Promise<JobView> {
  const job = await getJobRecord(store, name);
  const [rows, deployment, taskControl] = await Promise.all([
    jobTaskRows(store, name),
    getJson<Deployment>(store, keys.deployment(name, job.version)),
    getJson<TaskControlState>(store, keys.taskControl(name)),
  ]);
  return assembleJobView(job, rows, deployment?.value, taskControl?.value);
}

/** A job's view from its record, its task rows (in key order), its deployment and TaskControl state. */
export function assembleJobView(
  job: JobRecord,
  rows: TaskRow[],
  deployment: Deployment | undefined,
  taskControl: TaskControlState | undefined,
): JobView {
  return {
    job: splitJobId(job.name).name,
    namespace: splitJobId(job.name).namespace,
    version: job.version,
    status: job.status,
    replicas: job.spec.replicas,
    spec: toUserForm(job.spec),
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    deployment: deployment ?? null,
    counts: counts(rows),
    tasks: rows,
    ...(taskControl === undefined ? {} : { taskControl }),
    ...batchField(job, deployment, rows),
  };
}

/** The jobs of namespace `ns` (`*`: every namespace). */
/** Up to this many jobs, a listing reads each one's tasks, statuses and deployment by key. */
const PER_JOB_READS_UP_TO = 16;

export async function jobSummaries(
  store: Store,
  ns: string,
  perJobReadsUpTo = PER_JOB_READS_UP_TO,
): Promise<JobSummary[]> {
  const all = await rangeJson<JobRecord>(store, keys.jobsPrefix);
  const jobs = ns === ALL_NAMESPACES ? all : all.filter((j) => namespaceOfJobId(j.name) === ns);
  const summary = (job: JobRecord, rows: TaskRow[], deployment: Deployment | undefined): JobSummary => {
    const c = counts(rows);
    return {
      job: splitJobId(job.name).name,
      namespace: splitJobId(job.name).namespace,
      version: job.version,
      status: job.status,
      replicas: job.spec.replicas,
      running: c.running,
      healthy: c.healthy,
      deployment: deployment?.state ?? null,
      updatedAt: job.updatedAt,
      ...batchField(job, deployment, rows),
    };
  };
  if (jobs.length <= perJobReadsUpTo) {
    return Promise.all(
      jobs.map(async (job) => {
        const [rows, deployment] = await Promise.all([
          jobTaskRows(store, job.name),
          getJson<Deployment>(store, keys.deployment(job.name, job.version)),
        ]);
        return summary(job, rows, deployment?.value);
      }),
    );
  }
  // Many jobs (a fleet's listing, the web UI's overview): three range reads in all instead of three
  // reads per job (1,000 jobs took 1.5-2 s that way).
  const [tasks, statuses, deployments] = await Promise.all([
    rangeTasks(store, keys.tasksPrefix),
    rangeJson<TaskStatus>(store, keys.statusPrefix),
    rangeJson<Deployment>(store, keys.deploymentsPrefix),
  ]);
  const statusOf = new Map(statuses.map((st) => [`${st.job}\u0000${st.id}`, st]));
  const rowsOf = new Map<string, TaskRow[]>();
  for (const t of tasks) {
    const rows = rowsOf.get(t.job) ?? [];
    rows.push(taskRow(t, statusOf.get(`${t.job}\u0000${t.id}`)));
    rowsOf.set(t.job, rows);
  }
  const deploymentOf = new Map(deployments.map((d) => [`${d.job}\u0000${d.version}`, d]));
  return jobs.map((job) =>
    summary(job, rowsOf.get(job.name) ?? [], deploymentOf.get(`${job.name}\u0000${job.version}`)),
  );
}

const zero = (): HostCapacity => ({ cpu: 0, memoryBytes: 0, pids: 0 });

export async function hostViews(store: Store, now = Date.now()): Promise<HostView[]> {
  const [hosts, alive, tasks] = await Promise.all([
    store.range(keys.hostsPrefix),
    store.range(keys.alivePrefix),
    rangeTasks(store, keys.assignmentsPrefix),
  ]);
  const aliveIds = new Set(alive.kvs.map((kv) => kv.key.slice(keys.alivePrefix.length)));
  const allocated = new Map<string, HostCapacity>();
  const taskCount = new Map<string, number>();
  for (const t of tasks) {
    if (t.host === null || t.desired !== 'run') continue;
    const a = allocated.get(t.host) ?? zero();
    a.cpu = Math.round((a.cpu + t.spec.resources.cpu) * 1000) / 1000;
    a.memoryBytes += t.spec.resources.memoryBytes;
    a.pids += t.spec.resources.pids;
    allocated.set(t.host, a);
    taskCount.set(t.host, (taskCount.get(t.host) ?? 0) + 1);
  }
  return hosts.kvs.map((kv) => {
    const h = decode<HostRecord>(kv);
    const view: HostView = {
      id: h.id,
      state: aliveIds.has(h.id) ? h.schedulable : 'down',
      labels: h.labels,
      capacity: h.capacity,
      allocated: allocated.get(h.id) ?? zero(),
      runtime: h.runtime,
      registeredAt: h.registeredAt,
      tasks: taskCount.get(h.id) ?? 0,
    };
    if (h.agentUrl !== undefined) view.agentUrl = h.agentUrl;
    if (h.subnet !== undefined) view.subnet = h.subnet;
    if (h.seccomp !== undefined) view.seccomp = h.seccomp;
    if (h.volumes !== undefined) view.volumes = h.volumes;
    if (h.conditions !== undefined && h.conditions.length > 0) view.conditions = h.conditions;
    if (h.schedulable === 'draining' && h.drainDeadline !== undefined) view.drainDeadline = h.drainDeadline;
    if (h.schedulable === 'maintenance' && h.maintenance !== undefined) {
      view.maintenance = h.maintenance;
      view.drainDeadline = h.maintenance.deadline;
    }
    if (
      h.schedulable === 'draining' ||
      (h.schedulable === 'maintenance' && now >= (h.maintenance?.start ?? 0))
    ) {
      const progress = drainProgress(
        {
          id: h.id,
          state: 'draining',
          ...(view.drainDeadline === undefined ? {} : { drainDeadline: view.drainDeadline }),
        },
        tasks,
        now,
      ).message;
      view.drain = h.schedulable === 'maintenance' ? progress.replace(/^draining/, 'maintenance') : progress;
    }
    return view;
  });
}

function batchField(
  job: JobRecord,
  d: Deployment | undefined,
  rows: readonly TaskRow[],
): { batch?: BatchStatus } {
  const b = batchStatus(job, d, rows);
  return b === undefined ? {} : { batch: b };
}

import { NotFoundError, ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { parseDuration } from '../../lib/index.ts';
import type { RegisterHostRequest, TaskStatus, VolumeRecord } from '../../model/index.ts';
import { jobOfTaskId, keys, readTaskValues, splitJobId } from '../../model/index.ts';
import { checkBoundHost } from '../../auth/index.ts';
import type { Store } from '../../store/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import type { HostLiveness } from '../state/hosts.ts';
import { heartbeat, registerHost, setHostMaintenance, setHostSchedulable } from '../state/hosts.ts';
import { getJson, rangeJson, rangeTasks } from '../state/json.ts';
import { statusEvents } from '../state/task-events.ts';
import { parseTaskNetwork, type TaskNetwork } from '../../model/index.ts';
import { parseBody } from '../state/parse.ts';
import { hostViews } from '../state/views.ts';
import {
  drainSchema,
  heartbeatSchema,
  maintenanceEndSchema,
  maintenanceSchema,
  registerHostSchema,
  taskStatusSchema,
} from '../state/wire-schemas.ts';
import type { EventLog } from '../state/events.ts';

/** Host inventory and the agent-facing endpoints (register, heartbeat, assignments, task status). */
export function hostRoutes(
  router: Router,
  store: Store,
  clock: Clock,
  liveness: HostLiveness,
  events: EventLog,
  network: TaskNetwork = parseTaskNetwork(),
): void {
  hostInventoryRoutes(router, store, clock, liveness, events, network);
  hostStateRoutes(router, store, clock, events);
  maintenanceRoutes(router, store, clock, events);
  agentRoutes(router, store, events);
  taskRoutes(router, store);
}

/** The host inventory, and a host's registration by its agent. */
function hostInventoryRoutes(
  router: Router,
  store: Store,
  clock: Clock,
  liveness: HostLiveness,
  events: EventLog,
  network: TaskNetwork,
): void {
  router.on('GET', '/v1/hosts', () => hostViews(store));

  router.on('POST', '/v1/hosts', async ({ req, principal }) => {
    const body = parseBody(registerHostSchema, await readJsonBody(req), 'host registration');
    checkBoundHost(principal, body.id);
    const request: RegisterHostRequest = {
      id: body.id,
      labels: body.labels,
      capacity: body.capacity,
      runtime: body.runtime,
    };
    if (body.agentUrl !== undefined) request.agentUrl = body.agentUrl;
    if (body.wantSubnet === true) request.wantSubnet = true;
    if (body.seccomp !== undefined) request.seccomp = body.seccomp;
    if (body.volumes !== undefined) request.volumes = body.volumes;
    const r = await registerHost(store, request, liveness, clock, network);
    const what = r.subnet === undefined ? body.runtime : `${body.runtime}, tasks in ${r.subnet}`;
    await events.append([
      { kind: 'HostRegistered', host: body.id, message: `host ${body.id} registered (${what})` },
    ]);
    return r;
  });
}

/** Cordon, uncordon and drain a host. */
function hostStateRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  for (const [action, state] of [
    ['cordon', 'cordoned'],
    ['uncordon', 'ready'],
  ] as const) {
    router.on('POST', `/v1/hosts/:id/${action}`, async ({ params }) => {
      const id = params['id'] ?? '';
      const r = await setHostSchedulable(store, id, state);
      if (r.changed)
        await events.append([
          {
            kind: `Host${action === 'cordon' ? 'Cordoned' : 'Uncordoned'}`,
            host: id,
            message: `host ${id} ${state}`,
          },
        ]);
      return r;
    });
  }

  router.on('POST', '/v1/hosts/:id/drain', async ({ req, params }) => {
    const id = params['id'] ?? '';
    const body = parseBody(drainSchema, await readJsonBody(req), 'drain request');
    let deadline: number | undefined;
    if (body.deadline !== undefined) {
      const d = parseDuration(body.deadline);
      if (!d.ok) throw new ValidationError(`deadline: ${d.error}`, [{ path: 'deadline', message: d.error }]);
      deadline = clock.now() + d.ms;
    }
    const r = await setHostSchedulable(store, id, 'draining', deadline);
    if (r.changed) {
      await events.append([
        {
          kind: 'HostDraining',
          host: id,
          message: `host ${id} draining${deadline === undefined ? '' : ` (deadline ${body.deadline ?? ''})`}`,
        },
      ]);
    }
    return r;
  });
}

/** Maintenance windows of hosts: start (scheduled or now) and end. */
function maintenanceRoutes(router: Router, store: Store, clock: Clock, events: EventLog): void {
  router.on('POST', '/v1/maintenance', async ({ req }) => {
    const body = parseBody(maintenanceSchema, await readJsonBody(req), 'maintenance request');
    const now = clock.now();
    const start = body.start === undefined ? now : timeOrDuration('start', body.start, now);
    const deadline = timeOrDuration('deadline', body.deadline, now);
    if (deadline <= start)
      throw new ValidationError('deadline: must be after the start of the maintenance', [
        { path: 'deadline', message: 'must be after start' },
      ]);
    const r = await setHostMaintenance(store, body.hosts, { start, deadline, reason: body.reason });
    const changed = r.filter((x) => x.changed);
    if (changed.length > 0) {
      await events.append(
        changed.map((x) => ({
          kind: 'HostMaintenance',
          host: x.host,
          message: `host ${x.host} in maintenance from ${new Date(start).toISOString()} to ${new Date(deadline).toISOString()}: ${body.reason}`,
        })),
      );
    }
    return { hosts: r, start, deadline, reason: body.reason };
  });

  router.on('POST', '/v1/maintenance/end', async ({ req }) => {
    const body = parseBody(maintenanceEndSchema, await readJsonBody(req), 'maintenance end request');
    const out: { host: string; changed: boolean }[] = [];
    for (const id of body.hosts) {
      const r = await setHostSchedulable(store, id, 'ready');
      out.push({ host: id, changed: r.changed });
      if (r.changed)
        await events.append([
          { kind: 'HostMaintenanceEnded', host: id, message: `host ${id} ready: maintenance ended` },
        ]);
    }
    return { hosts: out };
  });
}

/** What agents call: heartbeat, their assignments and volumes, their tasks' statuses. */
function agentRoutes(router: Router, store: Store, events: EventLog): void {
  router.on('POST', '/v1/hosts/:id/heartbeat', async ({ req, params }) => {
    const body = parseBody(heartbeatSchema, await readJsonBody(req), 'heartbeat');
    await heartbeat(store, params['id'] ?? '', body.lease, body.conditions);
    // The server's time: the agent checks its clock against it (agent/clock-skew.ts).
    return { ok: true, serverTime: Date.now() };
  });

  router.on('GET', '/v1/hosts/:id/assignments', async ({ params }) => {
    const id = params['id'] ?? '';
    const { kvs, revision } = await store.range(keys.hostAssignmentsPrefix(id));
    return {
      revision,
      tasks: await readTaskValues(
        kvs.map((kv) => kv.value),
        store,
      ),
    };
  });

  // The volumes the scheduler keeps on the host, and the jobs that have volumes anywhere
  // (docs/volumes.md): its agent deletes the volumes of jobs not listed (purged) and sets aside
  // those placed afresh elsewhere.
  router.on('GET', '/v1/hosts/:id/volumes', async ({ params }) => {
    const id = params['id'] ?? '';
    const { kvs, revision } = await store.range(keys.volumesPrefix);
    const all = kvs.map((kv) => JSON.parse(kv.value) as VolumeRecord);
    return { revision, volumes: all.filter((v) => v.host === id), jobs: [...new Set(all.map((v) => v.job))] };
  });

  router.on('PUT', '/v1/tasks/:id/status', async ({ req, params, principal }) => {
    const status = parseBody(taskStatusSchema, await readJsonBody(req), 'task status') as TaskStatus;
    const id = params['id'] ?? '';
    // A host writes the status of its own tasks only (the compare below: assigned to that host).
    checkBoundHost(principal, status.host);
    if (status.id !== id) throw new NotFoundError('task', id, { details: { bodyId: status.id } });
    // The status goes under the job the task id names (in the namespace the job id says).
    if (jobOfTaskId(id, splitJobId(status.job).namespace) !== status.job) {
      throw new NotFoundError('task', id, { details: { job: status.job } });
    }
    // What changed since the stored status (started, exited and why, restarted) goes to the event
    // log in the same transaction. A report racing another for the same task could repeat an
    // event; the agent sends one task's reports in order.
    const prev = await getJson<TaskStatus>(store, keys.status(status.job, id));
    // Only a task that still exists (and is assigned to the reporting host) may have a status.
    const r = await store.txn({
      compare: [{ key: keys.assignment(status.host, id), target: 'create', op: '>', createRevision: 0 }],
      success: [
        { type: 'put', key: keys.status(status.job, id), value: JSON.stringify(status) },
        ...events.ops(statusEvents(prev?.value, status)),
      ],
    });
    if (!r.succeeded) throw new NotFoundError('task', id, { details: { host: status.host } });
    return { ok: true };
  });
}

/** One task, with its status. */
function taskRoutes(router: Router, store: Store): void {
  router.on('GET', '/v1/tasks/:id', async ({ params, namespace }) => {
    const id = params['id'] ?? '';
    const job = jobOfTaskId(id, namespace);
    const tasks = job === undefined ? [] : await rangeTasks(store, keys.jobTasksPrefix(job), job);
    const task = tasks.find((t) => t.id === id);
    if (!task || job === undefined) throw new NotFoundError('task', id);
    const statuses = await rangeJson<TaskStatus>(store, keys.jobStatusPrefix(job));
    return { ...task, status: statuses.find((s) => s.id === id) ?? null };
  });
}

/** An ISO-8601 time, or a duration from `now` (e.g. 30m): ms since the epoch. */
function timeOrDuration(field: string, text: string, now: number): number {
  const d = parseDuration(text);
  if (d.ok) return now + d.ms;
  const t = Date.parse(text);
  if (/^\d{4}-\d{2}-\d{2}/.test(text) && Number.isFinite(t)) return t;
  const message = `"${text}" is neither an ISO-8601 time (2026-12-06T04:00:00Z) nor a duration (30m)`;
  throw new ValidationError(`${field}: ${message}`, [{ path: field, message }]);
}

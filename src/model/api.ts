/** Shapes exchanged over the HTTP API (/v1), shared by the server and the typed client. */
import type { Deployment } from './deployment.ts';
import type { PlacementExplanation } from './explanation.ts';
import type { HostCapacity, HostVolumeSupport } from './host.ts';
import type { JobStatus } from './job.ts';
import type { LastExit, TaskState } from './task.ts';
import type { TaskControlState } from './taskcontrol.ts';

/** One task row of `GET /v1/jobs/NAME/tasks` and `dabba status JOB --json`. */
export interface TaskRow {
  id: string;
  /** The job's name (without its namespace). */
  job: string;
  namespace: string;
  host: string | null;
  state: TaskState;
  desired: 'run' | 'stop';
  healthy: boolean;
  ready: boolean;
  restarts: number;
  version: number;
  address: string | null;
  ports: Record<string, number>;
  pid: number | null;
  exitCode: number | null;
  /** How the task's previous run ended (kept across its restart). */
  lastExit: LastExit | null;
  reason: string | null;
  message: string | null;
  unplaced: string | null;
  /** Why the task could not be placed, as data (see `PlacementExplanation`); null once placed. */
  explanation: PlacementExplanation | null;
  /** Jobs with volumes: the task's slot (its volumes belong to the job, the slot and their names). */
  slot?: number;
  /** Set when the task got fresh, empty volumes because the host that held its slot's were down
   * or gone: which host and why (docs/volumes.md). */
  freshVolumes?: string;
  startedAt: number | null;
  createdAt: number;
  usage: { cpuSeconds: number; memoryBytes: number; pids: number } | null;
  /** A batch job's task: the completion index it runs and its attempt (from 1). */
  completion?: { index: number; attempt: number };
  /** Why it was stopped to make room for a service (a preempted batch task). */
  preempted?: string;
}

/** Where a batch job stands (`dabba status`): `running` until it has `succeeded` or `failed`. */
export interface BatchStatus {
  state: 'running' | 'succeeded' | 'failed' | 'stopped';
  completions: number;
  parallelism: number;
  priority: number;
  /** Completions that succeeded; failed runs (all attempts); runs preempted for services. */
  succeeded: number;
  failed: number;
  preempted: number;
  /** Tasks running or waiting for a host now. */
  active: number;
  message: string;
  finishedAt?: number;
}

/** `GET /v1/jobs/NAME` and `dabba status JOB --json`. */
export interface JobView {
  job: string;
  namespace: string;
  version: number;
  status: JobStatus;
  replicas: number;
  /** The job as submitted, in the job-file (user) form. */
  spec: unknown;
  createdAt: number;
  updatedAt: number;
  deployment: Deployment | null;
  counts: { running: number; healthy: number; pending: number; failed: number; total: number };
  tasks: TaskRow[];
  /** Operations waiting on the job's TaskControl controller, and its last error (absent: none). */
  taskControl?: TaskControlState;
  /** A batch job's progress (absent for a service). */
  batch?: BatchStatus;
}

export interface JobSummary {
  job: string;
  namespace: string;
  version: number;
  status: JobStatus;
  replicas: number;
  running: number;
  healthy: number;
  deployment: Deployment['state'] | null;
  updatedAt: number;
  /** A batch job's progress (absent for a service). */
  batch?: BatchStatus;
}

export interface PutJobResult {
  job: string;
  version: number;
  /** False when the submitted spec equals the current version's (nothing to roll out). */
  changed: boolean;
}

export interface RegisterHostRequest {
  id: string;
  labels: Record<string, string>;
  capacity: HostCapacity;
  runtime: string;
  agentUrl?: string;
  /**
   * The agent's runtime gives its tasks addresses (oci): the host wants its range of the task
   * network. A host that has one keeps it; otherwise it gets the lowest free one.
   */
  wantSubnet?: boolean;
  /** The seccomp profile the host's tasks run under (Runtime.seccomp), when its runtime has one. */
  seccomp?: string;
  /** How the agent makes volumes (docs/volumes.md). */
  volumes?: HostVolumeSupport;
}

export interface RegisterHostResult {
  lease: number;
  ttlSeconds: number;
  heartbeatMs: number;
  /** With wantSubnet: the host's range of the task network (CIDR, e.g. "10.88.0.0/24"). */
  subnet?: string;
  /** With wantSubnet: the whole task network the ranges come from (CIDR, e.g. "10.88.0.0/16"). */
  taskNetwork?: string;
}

export interface WatchEventWire {
  type: 'put' | 'delete';
  key: string;
  value: unknown;
  modRevision: number;
  createRevision: number;
}

export interface HealthView {
  ok: boolean;
  /** 'degraded': the server answers but something needs the operator (see `reasons`). */
  status?: 'ok' | 'degraded';
  /** Why the status is degraded, one sentence each (a full or read-only disk, space below the watermark). */
  reasons?: string[];
  revision: number;
  store: string;
  version: string;
  /** Counters of errors the process survived (uncaught I/O errors, accept errors, log write errors). */
  faults?: Record<string, number>;
}

/** `GET /v1/version` (`dabba version`): the server's version and store, and its hosts' runtimes. */
export interface VersionView {
  version: string;
  store: string;
  revision: number;
  /** Per runtime: how many hosts run tasks with it, and how many of them are not down. */
  runtimes: { runtime: string; hosts: number; up: number }[];
}

/** One control-plane replica in `GET /v1/servers`. */
export interface ServerReplicaView {
  id: string;
  /** Where it serves the API. */
  url: string;
  /** Whether this is the replica that answered. */
  self: boolean;
  /** Scheduler shards it owns. */
  shards: number[];
  /** Whether it owns the broker shard (host-wide duties). */
  broker: boolean;
  /** When it registered (ms since the epoch). */
  since: number;
}

/** `GET /v1/servers`: the control-plane replicas, who owns which shard, and the store's health. */
export interface ServersView {
  replicas: ServerReplicaView[];
  /** Number of scheduler shards. */
  shards: number;
  /** Shards nobody owns right now (moving between replicas). */
  unowned: number[];
  /** Who owns the broker shard, if anyone. */
  broker: string | null;
  store: { name: string; ok: boolean; revision: number; error?: string };
}

/** `GET /v1/ca`: the cluster CA certificate (public), and its pin (`sha256:` of its public key). */
export interface ClusterCaView {
  cert: string;
  pin: string;
}

/** A host certificate as the server hands it out (join, renewal). */
export interface HostCertificateView {
  hostId: string;
  address: string;
  /** PEM of the host certificate. */
  certificate: string;
  /** PEM of the cluster CA it chains to. */
  ca: string;
  /** ISO-8601. */
  notAfter: string;
}

/**
 * Header of a task's log stream (`GET /v1/tasks/ID/logs`) that is not from the task's running
 * instance, JSON: the log of the instance before (kept across a restart in place), shown because it
 * was asked for (`?previous=1`) or because the task is not running now.
 */
export const LOG_INSTANCE_HEADER = 'x-dabba-log-instance';

export interface LogInstance {
  instance: 'previous';
  /** True when `previous` was asked for; false when shown because the task is not running. */
  requested: boolean;
  /** How that instance ended, when known. */
  exit?: LastExit;
}

/**
 * Header of a task's log stream, JSON `LogGap[]`: the recent times when the host's data directory
 * could not take writes (full or read-only). A task's output written then is missing from its log:
 * its writer (conmon, for containers) drops it, and the agent, which is not in that path, cannot
 * count it; it says when instead. Runtimes that count what they drop send LOG_DROPS_HEADER.
 */
export const LOG_GAPS_HEADER = 'x-dabba-log-gaps';

export interface LogGap {
  /** The host condition that made writes fail. */
  condition: 'DiskFull' | 'DiskReadOnly';
  /** ms since the epoch. */
  from: number;
  /** ms since the epoch; absent while it lasts. */
  to?: number;
}

/** What `DELETE /v1/images/NAME` freed. */
export interface ImageRemoval {
  name: string;
  digest: string;
  blobsRemoved: number;
  layersRemoved: number;
  bytesFreed: number;
  blobsKept: number;
  layersKept: number;
}

/**
 * Header of a task's log stream, JSON `LogDrop[]`: output the task wrote that could not be stored
 * (its host's disk full or read-only), counted by the runtime's log writer. Sent by runtimes that
 * write the task's log themselves (process); the others send LOG_GAPS_HEADER instead.
 */
export const LOG_DROPS_HEADER = 'x-dabba-log-drops';

export interface LogDrop {
  stream: 'stdout' | 'stderr';
  /** ms since the epoch: the first write that failed. */
  from: number;
  /** ms since the epoch: the next write that succeeded; absent while writes still fail. */
  to?: number;
  bytes: number;
  /** Newlines among the dropped bytes. */
  lines: number;
  /** The errno the writes failed with (ENOSPC, EROFS, ...). */
  reason: string;
}

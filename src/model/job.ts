/**
 * A job in its normalized form: what the validator produces from a job file and what the store
 * keeps. Sizes are bytes, durations milliseconds, CPU in cores. The user-facing YAML form is
 * described by the schema in job-schema.ts (and schema/job.schema.json).
 */

export type RestartPolicy = 'always' | 'on-failure' | 'never';

export interface PortSpec {
  name: string;
  /** Port the task listens on inside its network namespace (oci); with the process runtime the agent
   * maps it to a free host port, passed to the task as DABBA_PORT_<NAME> (and PORT for the first). */
  port: number;
  /** Transport: tcp (HTTP runs over tcp) or udp. */
  protocol: 'tcp' | 'udp';
  /**
   * Whether a tcp port serves HTTP, present only where it differs from what the port's name says
   * (httpByName): absent, a port named http, web, metrics or *-http is HTTP and others are not. Kept
   * out of the normalized form at its derived value so that specs stored before the field existed
   * (all `protocol: 'tcp'`) compare equal to the same file read again. See portProtocol().
   */
  http?: boolean;
}

/** What a port speaks, as the job file's `protocol` says it: http, tcp or udp. */
export type PortProtocol = 'http' | 'tcp' | 'udp';

/** The name rule for ports without an explicit protocol: http, web, metrics and *-http are HTTP. */
export function httpByName(name: string): boolean {
  return name === 'http' || name === 'web' || name === 'metrics' || name.endsWith('-http');
}

/** The protocol a (normalized) port speaks: udp, else its explicit http flag, else the name rule. */
export function portProtocol(p: PortSpec): PortProtocol {
  if (p.protocol === 'udp') return 'udp';
  return (p.http ?? httpByName(p.name)) ? 'http' : 'tcp';
}

/** The normalized form of a port whose protocol is `protocol` (undefined: not given, the name decides). */
export function normalizePort(name: string, port: number, protocol: PortProtocol | undefined): PortSpec {
  if (protocol === 'udp') return { name, port, protocol: 'udp' };
  if (protocol === undefined || (protocol === 'http') === httpByName(name))
    return { name, port, protocol: 'tcp' };
  return { name, port, protocol: 'tcp', http: protocol === 'http' };
}

export type ProbeAction =
  | { exec: { command: string[] } }
  | { tcp: { port: string | number } }
  | { http: { port: string | number; path: string; scheme: 'http' } };

export interface ProbeSpec {
  action: ProbeAction;
  intervalMs: number;
  timeoutMs: number;
  /** Consecutive failures before the probe counts as failing. */
  failures: number;
  /** Consecutive successes before a failing probe counts as passing again. */
  successes: number;
  initialDelayMs: number;
  /**
   * Failures before the probe's first success, within this long after the start, do not count
   * (Docker's start period): a slow starter is not killed by its liveness probe while it boots.
   * Absent in specs stored before the field existed: 0.
   */
  startPeriodMs?: number;
}

export interface ResourceSpec {
  /** CPU cores (fractions allowed, e.g. 0.25). */
  cpu: number;
  memoryBytes: number;
  pids: number;
}

/** What a task's process is told when a config it mounts changes (docs/config.md). */
export type ConfigOnChange = 'none' | 'signal:HUP' | 'restart';

/** A config a task needs (`task.configs`): present before the task starts, kept current after. */
export interface TaskConfigMount {
  /** The config's path in the job's namespace (`app/settings.json`). */
  path: string;
  /** Absolute file path in the task: in a container as is; with the process runtime under $DABBA_CONFIG_DIR. */
  mount: string;
  onChange: ConfigOnChange;
}

/**
 * A volume a task keeps across restarts and updates on its host (`task.volumes`, docs/volumes.md):
 * a directory (a btrfs subvolume where the agent's data dir is on btrfs) that belongs to the job,
 * the task's slot and this name.
 */
export interface VolumeSpec {
  /** Unique in the task; part of the directory's name and of DABBA_VOLUME_<NAME>. */
  name: string;
  /** Absolute directory path: where a container sees it (read-write). */
  mount: string;
  /** Its quota where the filesystem enforces one (btrfs with quotas on), in bytes. */
  sizeBytes: number;
}

export interface TaskSpec {
  image?: string;
  command: string[];
  env: Record<string, string>;
  workingDir?: string;
  resources: ResourceSpec;
  ports: PortSpec[];
  health: { liveness?: ProbeSpec; readiness?: ProbeSpec };
  /** Where the task serves its counters (Prometheus/OpenMetrics text or a flat JSON map). */
  metrics?: { port: string | number; path: string };
  restart: {
    policy: RestartPolicy;
    initialBackoffMs: number;
    maxBackoffMs: number;
    /**
     * After this many restarts while not healthy the scheduler replaces the task with one on
     * another host (when one fits); 0: never. Absent means the default, 5 (the normalized form
     * leaves it out when it is 5, so specs written before it existed compare equal).
     */
    rescheduleAfter?: number;
  };
  /** Time between SIGTERM and SIGKILL on stop. */
  stopGracePeriodMs: number;
  /**
   * Whether a container runs a tiny init (catatonit) as its PID 1, which forwards signals to the
   * task's process and reaps zombies. Absent means true (the normalized form leaves it out then,
   * so specs stored before the field existed compare equal); false runs the command as PID 1.
   * Ignored by the process runtime.
   */
  init?: false;
  /** Configs the task mounts (`task.configs`); absent when none, so older specs compare equal. */
  configs?: TaskConfigMount[];
  /** Volumes the task keeps on its host (`task.volumes`); absent when none, so older specs compare equal. */
  volumes?: VolumeSpec[];
}

export interface UpdateSpec {
  maxUnavailable: number;
  maxSurge: number;
  canary: number;
  /** A new task must be healthy this long before it counts as available. */
  minHealthyMs: number;
  /** A rollout that has not finished by then fails. */
  deadlineMs: number;
  autoRollback: boolean;
  autoPromote: boolean;
}

export type Constraint =
  | { attribute: string; equals: string }
  | { attribute: string; in: string[] }
  | { attribute: string; not: string }
  | { attribute: string; regex: string };

export interface SpreadSpec {
  attribute: string;
  /** Fault-domain intent: at least this many distinct values of the attribute. */
  min?: number;
}

export interface PlacementSpec {
  spread: SpreadSpec[];
  constraints: Constraint[];
  /**
   * Jobs with volumes: how long a task waits for the host that holds its volumes while that host
   * is down, before it gets fresh volumes elsewhere. Absent: the default, 5 minutes (left out then,
   * so specs stored before the field existed compare equal).
   */
  volumeWaitMs?: number;
}

export interface JobSpec {
  name: string;
  /** Absent: the default namespace. */
  namespace?: string;
  replicas: number;
  task: TaskSpec;
  update: UpdateSpec;
  placement: PlacementSpec;
  /** The job's TaskControl controller (absent: disruptive operations proceed without asking). */
  taskControl?: TaskControlSpec;
  /**
   * `type: batch` (docs/batch.md): tasks run to completion instead of being kept running. Absent
   * for a service (the default), so specs stored before batch jobs existed compare equal. For a
   * batch job `replicas` is its parallelism.
   */
  batch?: BatchSpec;
  /** The pool of hosts the job's tasks go to (`pool`); absent: any host (docs/elastic.md). */
  pool?: string;
  /** Replicas by a schedule, between bounds (`scaling`); absent: `replicas` as written. */
  scaling?: ScalingSpec;
}

/**
 * `scaling`: a service's replicas follow a daily schedule (UTC) or a counter of its tasks, kept
 * within the bounds.
 */
export interface ScalingSpec {
  minReplicas: number;
  maxReplicas: number;
  /** From `at` (minutes after midnight UTC) until the next entry, `replicas`; sorted by `at`. */
  schedule: { at: number; replicas: number }[];
  /** Replicas by a counter of the job's tasks (`scaling.metric`); not with a schedule. */
  metric?: MetricScalingSpec;
}

/**
 * `scaling.metric`: as many replicas as it takes for each to carry `target` of the counter (its
 * per-second rate, or a gauge's value), as Kubernetes' HorizontalPodAutoscaler does for an average
 * value per pod (docs/elastic.md).
 */
export interface MetricScalingSpec {
  /** The series name, as collected from the tasks (`hello_requests_total`). */
  name: string;
  /** More label matchers (equality) besides the job's own. */
  where: Record<string, string>;
  /** Per-second rate of a counter (true) or the value of a gauge (false). */
  rate: boolean;
  /** What one replica should carry: the job's total divided by this, rounded up, is the replicas. */
  target: number;
  /** The window the rate (or the gauge's average) is taken over, ms. */
  windowMs: number;
  /** A scale-down takes the highest recommendation of this long (flapping damped), ms. */
  scaleDownDelayMs: number;
}

/** A batch job's settings (`type: batch`, `completions`, `parallelism`, `retries`, `deadline`, `priority`). */
export interface BatchSpec {
  /** Successful task runs (exit code 0) the job needs; each is one completion index. */
  completions: number;
  /** Most tasks running at once. */
  parallelism: number;
  /** Failed runs of one completion retried before the job fails. */
  retryLimit: number;
  /** Wait before the first retry of a completion, doubling per failure up to maxBackoffMs. */
  backoffMs: number;
  maxBackoffMs: number;
  /** The job fails (its running tasks stopped) when not finished this long after it started; absent: none. */
  deadlineMs?: number;
  /**
   * Among batch jobs: higher places first and is preempted last. Every service ranks above every
   * batch job: a service task that fits nowhere preempts batch tasks.
   */
  priority: number;
}

/** A job's external controller (see docs/taskcontrol.md). */
export interface TaskControlSpec {
  url: string;
  /** Longest one request may take. */
  timeoutMs: number;
  /** After a host fails, how long replacing its tasks waits for the controller's ack. */
  hostFailureWaitMs: number;
}

export type JobStatus = 'active' | 'stopped';

/** The record under /jobs/ID; `name` is the job's id (its name, `NS:NAME` outside the default namespace). */
export interface JobRecord {
  name: string;
  /** Current (desired) version; versions start at 1. */
  version: number;
  status: JobStatus;
  spec: JobSpec;
  createdAt: number;
  updatedAt: number;
}

/** The record under /jobversions/NAME/VERSION: the spec as submitted at that version. */
export interface JobVersionRecord {
  name: string;
  version: number;
  spec: JobSpec;
  createdAt: number;
}

import type { PlacementExplanation } from './explanation.ts';
import type { TaskSpec } from './job.ts';

export type TaskState = 'pending' | 'starting' | 'running' | 'failed' | 'stopped';
export type DesiredState = 'run' | 'stop';

/** A task as the scheduler wants it: the record under /tasks/JOB/ID and its assignment copy. */
export interface Task {
  id: string;
  job: string;
  /** Job version whose spec this task runs. */
  version: number;
  /** Host the task is assigned to; null while unplaced. */
  host: string | null;
  desired: DesiredState;
  spec: TaskSpec;
  createdAt: number;
  /**
   * The task's slot in a job with volumes (0, 1, ...: a StatefulSet's ordinal): its volumes belong
   * to (job, slot, volume name), so a task that replaces it takes the same slot and finds them.
   * Absent for jobs without volumes.
   */
  slot?: number;
  /**
   * Set when the task got fresh (empty) volumes because the host that held its slot's volumes was
   * down, draining or gone: says which host and why, for `dabba status`.
   */
  freshVolumes?: string;
  /** Why the task could not be placed, while host is null: one line (the explanation's summary). */
  unplaced?: string;
  /** Why the task could not be placed, as data: per filter how many hosts it rejected and why, the
   * nearest fits, and what change would make it fit. Set with `unplaced`. */
  explanation?: PlacementExplanation;
  /** A batch job's task: which completion it runs and which attempt at it this is (from 1). */
  batch?: { index: number; attempt: number };
  /** Why the scheduler stopped it to make room for a service (set with desired 'stop'). */
  preempted?: string;
}

export interface TaskUsage {
  cpuSeconds: number;
  memoryBytes: number;
  pids: number;
}

/**
 * How the task's previous run ended (or why its last start failed), kept on its status across the
 * restart that follows, so `dabba status` still says why it restarted.
 */
export interface LastExit {
  /** Exited, Killed (by a signal), OOMKilled, LivenessFailed, or why a start failed
   * (StartFailed, ImageNotFound, CommandNotFound, ...). */
  reason: string;
  /** Exit code (128+N when killed by signal N); absent when unknown or the start failed. */
  exitCode?: number;
  /** The signal that ended it (SIGKILL, SIGTERM, ...), when it was one. */
  signal?: string;
  /** When it ended (epoch ms). */
  at: number;
}

/** One line for a last exit: "killed by SIGKILL (exit 137)", "exit code 3", "OOMKilled (exit 137)". */
export function describeExit(e: LastExit): string {
  const code = e.exitCode === undefined ? '' : `exit ${e.exitCode}`;
  switch (e.reason) {
    case 'Exited':
      return e.exitCode === undefined ? 'exited (code unknown)' : `exit code ${e.exitCode}`;
    case 'Killed':
      return `killed by ${e.signal ?? 'a signal'}${code ? ` (${code})` : ''}`;
    case 'LivenessFailed':
      return `liveness failed${e.signal ? `, stopped by ${e.signal}` : ''}${code ? ` (${code})` : ''}`;
    default:
      return `${e.reason}${code ? ` (${code})` : ''}`;
  }
}

/** A task as its agent sees it: the record under /status/ID, written only by the agent. */
export interface TaskStatus {
  id: string;
  job: string;
  host: string;
  state: TaskState;
  healthy: boolean;
  ready: boolean;
  restarts: number;
  /** Host pid of the main process while it runs. */
  pid?: number;
  /** Address the task is reachable at (its own IP with oci; 127.0.0.1 with process). */
  address?: string;
  /** Declared port name -> port reachable at `address`. */
  ports?: Record<string, number>;
  exitCode?: number;
  /** How the previous run ended; kept when the task starts again. */
  lastExit?: LastExit;
  /** Machine-readable reason of the last state change: Started, Exited, OOMKilled, LivenessFailed,
   * StartFailed, ImageNotFound, ImageRefused, CommandNotFound, Stopped, ...; a crash loop keeps the
   * cause as reason and says so in the message, with nextRestartAt */
  reason?: string;
  message?: string;
  startedAt?: number;
  /** When a crash-looping task will be started again. */
  nextRestartAt?: number;
  /** When the task last became healthy (for minimum healthy time). */
  healthySince?: number;
  usage?: TaskUsage;
  updatedAt: number;
}

/** A task with its observed status joined in, as the API returns it. */
export interface TaskView extends Task {
  status?: TaskStatus;
}

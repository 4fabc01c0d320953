/**
 * TaskControl: the wire format between Dabba and a job's external controller, and what the control
 * plane keeps about it. Dabba POSTs a TaskControlRequest to the job's `taskControl.url`; the
 * controller answers a TaskControlResponse naming the pending operations it allows. Times are
 * milliseconds since the epoch. See docs/taskcontrol.md.
 */

/** replace: stop a task for a new version; move: stop it because its host drains, goes into
 * maintenance or keeps crashing it (a replacement runs elsewhere); stop: stop a surplus task;
 * restart: replace a task lost with its host. */
export type TaskControlOp = 'replace' | 'move' | 'stop' | 'restart';

export interface PendingOperation {
  /** Stable while the operation is pending: `OP:TASK`. Acknowledge it by this id. */
  id: string;
  task: string;
  op: TaskControlOp;
  /** The host the task is on. */
  host: string;
  /** When it proceeds whatever the controller says (a drain or maintenance deadline, or the bound
   * on waiting after a host failure). Absent: it waits for an ack as long as it takes. */
  deadline?: number;
  /** Why, in words. */
  reason: string;
}

/** Advance notice of maintenance (or a drain) of a host that runs some of the job's tasks. */
export interface MaintenanceNotice {
  host: string;
  /** 'maintenance' or 'draining'. */
  kind: string;
  start?: number;
  deadline?: number;
  reason?: string;
  tasks: string[];
}

/** A task of the job on a host that failed (down or gone). */
export interface UnhealthyTask {
  task: string;
  host: string;
  reason: string;
  since: number;
}

export interface TaskControlRequest {
  job: string;
  /** Increases with every request for the job (per control-plane replica and run). */
  sequence: number;
  pending: PendingOperation[];
  notices: MaintenanceNotice[];
  /** Ids of operations carried out since the previous request that reached the controller. */
  completed: string[];
  unhealthy: UnhealthyTask[];
}

export interface TaskControlResponse {
  /** Ids of pending operations the controller allows now. Others wait and are proposed again. */
  ack: string[];
}

/** An operation waiting on the controller, as status shows it. */
export interface WaitingOperation extends PendingOperation {
  /** Since when it waits. */
  since: number;
}

/** What the control plane keeps under keys.taskControl(JOB) for status. */
export interface TaskControlState {
  job: string;
  url: string;
  waiting: WaitingOperation[];
  /** Last answer from the controller. */
  lastContact?: number;
  /** The last request's failure (unreachable, timeout, bad answer), cleared by a good answer. */
  lastError?: string;
  sequence: number;
}

/** The op id for an operation on a task. */
export function operationId(op: TaskControlOp, task: string): string {
  return `${op}:${task}`;
}

/** Parses a controller's answer; undefined when it is not `{ "ack": [strings] }`. */
export function parseTaskControlResponse(v: unknown): TaskControlResponse | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const ack = (v as Record<string, unknown>)['ack'];
  if (!Array.isArray(ack) || !ack.every((a) => typeof a === 'string')) return undefined;
  return { ack };
}

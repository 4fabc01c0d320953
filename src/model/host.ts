export type HostState = 'ready' | 'cordoned' | 'draining' | 'maintenance' | 'down';

/**
 * Announced maintenance of a host (`dabba host maintenance`): no new tasks from the announcement
 * on; from `start` its tasks move off like a drain (each job's budget and TaskControl controller),
 * and at `deadline` whatever is left is stopped. Times in ms since the epoch.
 */
export interface HostMaintenance {
  start: number;
  deadline: number;
  reason: string;
}

/**
 * A condition the agent reports about its host with each heartbeat, cleared by the agent when it is
 * over. Any of them keeps new tasks off the host (the host-state placement filter); running tasks
 * stay. DiskFull: no space left in the agent's data dir; DiskPressure: free space below the agent's
 * watermark; DiskReadOnly: the data dir's file system turned read-only (or refuses writes);
 * ClockSkew: the host's clock is off the server's by more than 2 s; RuntimeBroken: the runtime's
 * self-check failed twice in a row (binary gone, state root unreadable, cannot start processes).
 */
export interface HostCondition {
  type: (typeof HOST_CONDITION_TYPES)[number];
  message: string;
  /** Since when (ms since the epoch). */
  since: number;
}

export const HOST_CONDITION_TYPES = [
  'DiskFull',
  'DiskPressure',
  'DiskReadOnly',
  'ClockSkew',
  'RuntimeBroken',
] as const;

export interface HostCapacity {
  cpu: number;
  memoryBytes: number;
  pids: number;
}

/** The record under /hosts/ID, written on registration and by host commands. */
export interface HostRecord {
  id: string;
  labels: Record<string, string>;
  capacity: HostCapacity;
  /** Administrative state; "down" is derived from liveness, never stored here. */
  schedulable: 'ready' | 'cordoned' | 'draining' | 'maintenance';
  /** While `schedulable` is 'maintenance': its window and reason. */
  maintenance?: HostMaintenance;
  /** Base URL of the agent's own endpoint (logs), e.g. http://127.0.0.1:41234. */
  agentUrl?: string;
  runtime: string;
  registeredAt: number;
  /** Lease that keeps /alive/ID; renewed by heartbeats. */
  lease: number;
  /**
   * While `schedulable` is 'draining': when (ms since the epoch) the drain stops waiting for the
   * jobs' budgets. Until then each job's tasks move off one replacement at a time, keeping
   * `replicas - maxUnavailable` available; from then on what is left on the host is stopped
   * regardless. Absent: the drain waits as long as it takes. Cleared when the host is made ready.
   */
  drainDeadline?: number;
  /**
   * The host's range of the task network (CIDR, e.g. "10.88.3.0/24"), allocated by the server when
   * the agent asks for one (a runtime with task networking) and kept across re-registrations.
   * Its tasks get addresses from it; the range is held under keys.subnet(...) while the host is.
   */
  subnet?: string;
  /** What the agent last reported about its host (absent or empty: nothing wrong). */
  conditions?: HostCondition[];
  /** The seccomp profile its tasks run under, as the agent registered it (oci). */
  seccomp?: string;
  /** How the agent makes volumes (docs/volumes.md), as it registered it. */
  volumes?: HostVolumeSupport;
}

/** A host as the API shows it. */
export interface HostView {
  id: string;
  state: HostState;
  labels: Record<string, string>;
  capacity: HostCapacity;
  allocated: HostCapacity;
  runtime: string;
  agentUrl?: string;
  registeredAt: number;
  tasks: number;
  /** Copied from the record while the state is 'draining' (see HostRecord.drainDeadline); the
   * maintenance deadline while it is 'maintenance'. */
  drainDeadline?: number;
  /** While the state is 'maintenance'. */
  maintenance?: HostMaintenance;
  /** While draining: progress in words, e.g. "draining: 3 tasks left (2 to move, 1 stopping)". */
  drain?: string;
  /** The host's range of the task network, when it has one (see HostRecord.subnet). */
  subnet?: string;
  /** Conditions the agent reports (see HostCondition); present only when there are some. */
  conditions?: HostCondition[];
  /** The seccomp profile its tasks run under (see HostRecord.seccomp). */
  seccomp?: string;
  /** How the agent makes volumes (see HostRecord.volumes). */
  volumes?: HostVolumeSupport;
}

/** How a host's agent makes volumes: directories, or btrfs subvolumes; `quota`: sizes enforced. */
export interface HostVolumeSupport {
  kind: 'directory' | 'btrfs-subvolume';
  quota: boolean;
  /** One line: what and why (e.g. "directories (size not enforced: the data dir is not on btrfs)"). */
  summary: string;
}

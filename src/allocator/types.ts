/**
 * The allocator's request and result: tasks to place, the fleet, a seed; hosts chosen, or a
 * structured explanation of why not.
 */
import type { Explanation, HostView, PlacementSpec, PortSpec, ResourceSpec } from '../model/index.ts';

/** A job's tasks that already run (or stay) somewhere: they steer spread, distinct hosts and `min`. */
export interface JobTaskCounts {
  /** Host id -> number of the job's tasks on that host. */
  perHost: ReadonlyMap<string, number>;
  /**
   * Attribute -> value -> number of the job's tasks on hosts with that value. Optional: derived from
   * `perHost` and the hosts' labels when absent (tasks on hosts not in the request then count for
   * nothing).
   */
  perLabel?: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/** One task to place. Tasks of one job with the same needs form one equivalence class. */
export interface PlacementAsk {
  job: string;
  /** Task id: the key of the result maps. */
  task: string;
  resources: ResourceSpec;
  ports?: readonly PortSpec[];
  placement?: PlacementSpec;
  /** The job's existing tasks. Read from the first ask of each job in a request (later asks of the
   * same job share that job state, which also counts what this request places). */
  existing?: JobTaskCounts;
  /** At most one task of the job per host (default false). */
  distinctHosts?: boolean;
  /**
   * The task binds its declared ports on the host's own network (host networking), so a host where
   * one of them is in use does not fit (default false: the process runtime maps ports and each oci
   * task has its own network namespace, so declared ports never clash).
   */
  uniquePorts?: boolean;
  /** Host ids that must not take this task (a task rescheduled off a host where it kept crashing). */
  avoidHosts?: readonly string[];
  /** The host that holds the task's volumes: the only one that may take it (docs/volumes.md). */
  volumeHost?: string;
}

/** How feasible hosts are ranked after the spread rules: fill the emptiest (spread) or the fullest
 * (binpack). */
export type ScoringMode = 'spread' | 'binpack';

export interface AllocateOptions {
  /** Default 'spread'. */
  scoring?: ScoringMode;
  /**
   * How many feasible hosts are scored per task (default 32). A class whose feasible hosts number no
   * more than this is scored over all of them; larger fleets are sampled in a seeded random order.
   * `Infinity` scores every feasible host; values below 1 mean the default.
   */
  sampleSize?: number;
  /** Host id -> ports already bound on the host's network (checked only for `uniquePorts` asks). */
  usedPorts?: ReadonlyMap<string, Iterable<number>>;
  /** How many nearest fits an explanation lists (default 3). */
  nearest?: number;
}

export interface AllocateRequest {
  tasks: readonly PlacementAsk[];
  /** Every known host, in any state (hosts not ready are filtered, and counted in explanations). */
  hosts: readonly HostView[];
  /** All randomness (host sampling order) derives from it: same request, same result. */
  seed: number;
  options?: AllocateOptions;
}

export interface AllocateResult {
  /** Task id -> host id. */
  placements: Map<string, string>;
  /** Task id -> why it could not be placed. */
  failures: Map<string, Explanation>;
}

export type PlaceResult = { host: string } | { host: null; explanation: Explanation };

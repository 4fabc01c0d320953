import type {
  Deployment,
  HostView,
  JobRecord,
  JobVersionRecord,
  Task,
  TaskView,
  VolumeRecord,
} from '../model/index.ts';
import type { Fleet } from '../allocator/index.ts';
import type { PlacementStrategy } from './placement.ts';

/** Hosts by id (a Map, or the allocator's `Fleet`). */
export interface HostLookup {
  get(id: string): HostView | undefined;
}

/** Everything `reconcile` decides from, for one job. Nothing else is read: same input, same plan. */
export interface ReconcileInput {
  /** Desired state: status 'active' | 'stopped', current version and its spec. */
  job: JobRecord;
  /** The job's version history (for rollback). */
  versions: JobVersionRecord[];
  /** All tasks of this job, with their agent-reported status (absent: not yet seen by an agent). */
  tasks: TaskView[];
  /** All hosts. `allocated` must count every task assigned to the host whose process may still
   * exist (desired 'run' or 'stop', until its record is removed). A 'draining' host's tasks are
   * moved off (see drain.ts); give its `drainDeadline` to have them stopped at that time. */
  hosts: readonly HostView[];
  /**
   * Optional: the same hosts already indexed for the allocator, kept up to date by the caller
   * across passes (`Fleet.setHost`). Saves indexing every host for every job; reconcile only reads
   * it (the allocator works on a fork). It must hold exactly the views of `hosts`.
   */
  fleet?: Fleet;
  /** The deployment record for job.version, if any. */
  deployment: Deployment | undefined;
  /** Deployment records of this job's other versions (any state; a record for job.version here is
   * ignored). In-progress ones are superseded; succeeded ones give the rollback target when
   * `lastGoodVersion` is absent. Optional: without it, nothing is superseded. */
  otherDeployments?: Deployment[];
  /** The newest version before job.version known good (its deployment succeeded), if the caller
   * tracks it. Takes precedence over what `otherDeployments` say. */
  lastGoodVersion?: number;
  /** Placement strategy (defaults to `allocatorPlacement`, the allocator). */
  placement?: PlacementStrategy;
  now: number;
  newTaskId: () => string;
  /**
   * Optional: ids of lost tasks (their host is down or gone) whose replacement waits for the job's
   * TaskControl controller. They are kept as they are (not removed, still counted, not replaced)
   * instead of being handled as lost.
   */
  holdLost?: ReadonlySet<string>;
  /** Where the job's volumes live, per task slot (jobs with `task.volumes`; see volumes.ts). */
  volumes?: readonly VolumeRecord[];
  /**
   * Optional, batch jobs: tasks to stop to make room for a service (task id -> why), as decided by
   * `planPreemption`. They stop gracefully and their completions run again later, not counted as
   * failures.
   */
  preempt?: ReadonlyMap<string, string>;
}

/** A disruptive operation on a task: what a job's TaskControl controller is asked about. */
export type DisruptionOp = 'replace' | 'move' | 'stop';

/** A stop in the plan that disrupts a running task (see ReconcilePlan.disruptions). */
export interface Disruption {
  task: string;
  host: string;
  op: DisruptionOp;
  /** When the operation proceeds whatever the controller says (a drain or maintenance deadline). */
  deadline?: number;
  why: string;
}

/** A decision worth telling a human about. The caller adds `job` and `at` when it stores it. */
export interface PlanEvent {
  kind: string;
  message: string;
  task?: string;
  host?: string;
}

/**
 * What to write. Apply in any order; a partial application is fine (the next reconcile reads what
 * was written and decides again).
 */
export interface ReconcilePlan {
  /**
   * Task records to write, as upserts keyed by id: new tasks, and existing unplaced tasks that are
   * now placed (same id, host set, `unplaced` gone) or whose unplaced reason changed. Write
   * /tasks/JOB/ID and, when host is not null, /assign/HOST/ID.
   */
  create: Task[];
  /** Task ids whose desired state becomes 'stop' (record and assignment). */
  stop: string[];
  /** Task ids to delete entirely: record, assignment and status. An agent must treat a deleted
   * assignment like a stop. */
  remove: string[];
  /** New or updated record for job.version (undefined: leave it as it is). */
  deployment: Deployment | undefined;
  /** Records of other versions that this pass finishes ('superseded'), to write as well. */
  supersede: Deployment[];
  /** Write a new job version with this version's spec (automatic rollback). */
  rollbackTo?: number;
  /** Reconcile again no later than this, even without a store change: a task reaches its minimum
   * healthy time, a deployment its deadline, or a draining host with tasks of this job its drain
   * deadline. */
  wakeAt?: number;
  events: PlanEvent[];
  /**
   * The stops in `stop` that disrupt the job's tasks for a rollout, a drain or a reschedule (not
   * those of a stopped job), with what kind of operation each is: what a TaskControl gate may hold.
   */
  disruptions?: Disruption[];
  /** Volume records to write (/volumes/JOB/SLOT): where a slot's volumes now live (see volumes.ts). */
  volumes?: VolumeRecord[];
  /** The stops in `stop` that preempt a batch task for a service: task id -> why (kept on its record). */
  preempted?: Record<string, string>;
}

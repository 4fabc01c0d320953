export type DeploymentState = 'in-progress' | 'succeeded' | 'failed' | 'superseded' | 'stopped';

/**
 * Where a canary deployment stands (only deployments with canaries have a phase):
 * - 'canary': the canaries (`canaries` new tasks) are being started; the old tasks keep serving.
 * - 'paused': the canaries are available; the rollout waits for promotion (`promoted`, or
 *   `update.autoPromote`). No deadline applies while paused.
 * - 'rolling': promoted; the rest of the rollout proceeds as usual (its deadline counts from
 *   `promotedAt`).
 * The deployment's `state` stays 'in-progress' in all three.
 */
export type DeploymentPhase = 'canary' | 'paused' | 'rolling';

/** The record under /deployments/JOB/VERSION: one rollout of one job version. */
export interface Deployment {
  job: string;
  version: number;
  /** Version being replaced (0 for the first deployment). */
  fromVersion: number;
  state: DeploymentState;
  desired: number;
  /** Tasks of this version that exist / are running / are healthy past minHealthy. */
  placed: number;
  running: number;
  healthy: number;
  /** Tasks of older versions still present. */
  old: number;
  message: string;
  startedAt: number;
  updatedAt: number;
  finishedAt?: number;
  /** Canary deployments only (see DeploymentPhase). Absent: no canary phase. */
  phase?: DeploymentPhase;
  /** Canary deployments only: how many canaries, min(update.canary, replicas). */
  canaries?: number;
  /**
   * Set to true by the caller (the promote command) to let a canary deployment continue: honoured
   * once the canaries are available (set earlier, it is remembered). The scheduler keeps it.
   */
  promoted?: boolean;
  /** When the scheduler moved the deployment to 'rolling' (promotion seen, or autoPromote). */
  promotedAt?: number;
  /** A batch job's run (its completions); absent for a service. */
  batch?: BatchProgress;
}

/** Where one completion index of a batch job stands. */
export interface BatchIndex {
  /** Failed runs so far (exit code not 0, a failed start, killed). */
  failures: number;
  /** 'succeeded' once a run exited 0; 'failed' once it failed more than the retry limit. */
  outcome?: 'succeeded' | 'failed';
  /** Not retried before this time (backoff after a failure). */
  retryAt?: number;
}

/**
 * A batch run's progress, kept on the deployment record of the job version. Updating it is
 * idempotent (a run's outcome is recorded by its index and attempt), so a plan written in parts
 * never counts a run twice.
 */
export interface BatchProgress {
  indexes: BatchIndex[];
  /** Completions succeeded, failed runs (all attempts), runs stopped for services. */
  succeeded: number;
  failed: number;
  preempted: number;
}

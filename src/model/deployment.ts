export type DeploymentState = 'in-progress' | 'succeeded' | 'failed' | 'superseded' | 'stopped';

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
}

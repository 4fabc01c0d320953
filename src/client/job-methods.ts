/**
 * The API client's job methods: deploy, plan, inspect, stop, purge, roll back, scale and restart
 * jobs.
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import type {
  Deployment,
  JobPlanView,
  JobSummary,
  JobVersionRecord,
  JobView,
  PutJobResult,
  TaskRow,
} from '../model/index.ts';
import { ClientTransport } from './transport.ts';

export class JobMethods extends ClientTransport {
  // Jobs
  putJob(name: string, userForm: unknown): Promise<PutJobResult> {
    return this.requestJson('PUT', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}`), {
      body: userForm,
    });
  }
  /** What deploying this job file would change, computed by the server with nothing written. */
  planJob(name: string, userForm: unknown): Promise<JobPlanView> {
    return this.requestJson('POST', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/plan`), {
      body: userForm,
    });
  }
  getJob(name: string): Promise<JobView> {
    return this.requestJson('GET', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}`));
  }
  listJobs(): Promise<JobSummary[]> {
    return this.requestJson('GET', this.namespaced('/v1/jobs'));
  }
  stopJob(name: string): Promise<{ job: string; stopped: boolean }> {
    return this.requestJson('DELETE', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}`));
  }
  /** Removes a stopped job's records (its job, versions and deployments); 409 while it has tasks. */
  purgeJob(name: string): Promise<{ job: string; purged: true; versions: number; deployments: number }> {
    return this.requestJson('DELETE', `/v1/jobs/${encodeURIComponent(name)}?purge=1`);
  }
  jobVersions(name: string): Promise<JobVersionRecord[]> {
    return this.requestJson('GET', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/versions`));
  }
  jobTasks(name: string): Promise<TaskRow[]> {
    return this.requestJson('GET', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/tasks`));
  }
  promoteJob(name: string): Promise<{ job: string; version: number; promoted: boolean; changed: boolean }> {
    return this.requestJson('POST', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/promote`), {
      body: {},
    });
  }
  rollbackJob(name: string, version?: number): Promise<PutJobResult & { from: number; to: number }> {
    return this.requestJson('POST', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/rollback`), {
      body: version === undefined ? {} : { version },
    });
  }
  /** A new version with only `replicas` changed (rolled out like a deploy). */
  scaleJob(name: string, replicas: number): Promise<PutJobResult & { from: number }> {
    return this.requestJson('POST', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/scale`), {
      body: { replicas },
    });
  }
  /** A new version that replaces every task (a rolling restart under the update budget). */
  restartJob(name: string): Promise<PutJobResult & { from: number }> {
    return this.requestJson('POST', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/restart`), {
      body: {},
    });
  }
  jobDeployments(name: string): Promise<Deployment[]> {
    return this.requestJson('GET', this.namespaced(`/v1/jobs/${encodeURIComponent(name)}/deployments`));
  }
}

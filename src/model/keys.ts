/** The store's key layout, in one place. */

const pad = (n: number): string => String(n).padStart(10, '0');

export const keys = {
  job: (name: string) => `/jobs/${name}`,
  jobsPrefix: '/jobs/',
  jobVersion: (name: string, version: number) => `/jobversions/${name}/${pad(version)}`,
  jobVersionsPrefix: (name: string) => `/jobversions/${name}/`,
  task: (job: string, id: string) => `/tasks/${job}/${id}`,
  tasksPrefix: '/tasks/',
  jobTasksPrefix: (job: string) => `/tasks/${job}/`,
  assignment: (host: string, id: string) => `/assign/${host}/${id}`,
  assignmentsPrefix: '/assign/',
  hostAssignmentsPrefix: (host: string) => `/assign/${host}/`,
  status: (job: string, id: string) => `/status/${job}/${id}`,
  statusPrefix: '/status/',
  jobStatusPrefix: (job: string) => `/status/${job}/`,
  host: (id: string) => `/hosts/${id}`,
  hostsPrefix: '/hosts/',
  alive: (id: string) => `/alive/${id}`,
  alivePrefix: '/alive/',
  /** A range of the task network held by a host: /subnets/10.88.3.0-24 -> {"host": ID}. */
  subnet: (cidr: string) => `/subnets/${cidr.replace('/', '-')}`,
  subnetsPrefix: '/subnets/',
  deployment: (job: string, version: number) => `/deployments/${job}/${pad(version)}`,
  deploymentsPrefix: '/deployments/',
  jobDeploymentsPrefix: (job: string) => `/deployments/${job}/`,
  event: (at: number, id: string) => `/events/${String(at).padStart(15, '0')}-${id}`,
  eventsPrefix: '/events/',
  /**
   * Secrets of the control plane (the cluster CA's key): never served by any route, watch included.
   * Other secret records belong under this prefix too.
   */
  secretPrefix: '/pki/',
  /** The cluster CA: {"cert": PEM, "key": PEM, "createdAt": ms}; created once, by the first replica. */
  clusterCa: '/pki/ca',
  /** The last host certificate issued to a host: its address is where the server reaches the agent. */
  hostCertificate: (host: string) => `/hostcerts/${host}`,
  hostCertificatesPrefix: '/hostcerts/',
} as const;

/** Task ids are `JOB-xxxxx`: the job name, a dash and a 5-character random suffix. */
export const TASK_SUFFIX_LENGTH = 5;

export function taskIdFor(job: string, suffix: string): string {
  return `${job}-${suffix}`;
}

/** The job a task id belongs to, or undefined if the id is not of the form JOB-xxxxx. */
export function jobOfTaskId(id: string): string | undefined {
  const m = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-[a-z0-9]{5}$/.exec(id);
  return m?.[1];
}

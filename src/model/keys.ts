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
  status: (id: string) => `/status/${id}`,
  statusPrefix: '/status/',
  host: (id: string) => `/hosts/${id}`,
  hostsPrefix: '/hosts/',
  alive: (id: string) => `/alive/${id}`,
  alivePrefix: '/alive/',
  deployment: (job: string, version: number) => `/deployments/${job}/${pad(version)}`,
  deploymentsPrefix: '/deployments/',
  jobDeploymentsPrefix: (job: string) => `/deployments/${job}/`,
  event: (seq: number) => `/events/${String(seq).padStart(16, '0')}`,
  eventsPrefix: '/events/',
} as const;

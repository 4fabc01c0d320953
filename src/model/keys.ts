/** The store's key layout, in one place. Job keys take the job's id (see namespace.ts). */
import { splitJobId } from './namespace.ts';

const pad = (n: number): string => String(n).padStart(10, '0');

export const keys = {
  job: (name: string) => `/jobs/${name}`,
  jobsPrefix: '/jobs/',
  jobVersion: (name: string, version: number) => `/jobversions/${name}/${pad(version)}`,
  jobVersionsPrefix: (name: string) => `/jobversions/${name}/`,
  allJobVersionsPrefix: '/jobversions/',
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
  /** Namespace records (quota); `default` exists without one. */
  namespace: (name: string) => `/namespaces/${name}`,
  namespacesPrefix: '/namespaces/',
  /** Jobs of a namespace other than default: `/jobs/NS:` (default's jobs are those without a `:`). */
  namespaceJobsPrefix: (ns: string) => `/jobs/${ns}:`,
  namespaceTasksPrefix: (ns: string) => `/tasks/${ns}:`,
  /** API tokens (hashed), by name. */
  token: (name: string) => `/auth/tokens/${name}`,
  tokensPrefix: '/auth/tokens/',
  /** The audit log of write requests, in time order. */
  audit: (at: number, id: string) => `/audit/${String(at).padStart(15, '0')}-${id}`,
  auditPrefix: '/audit/',
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
  /** The dependency file's current version: {"version": N}. */
  meshCurrent: '/mesh/current',
  /** Every stored version of the dependency file (MeshVersion), numbered from 1. */
  meshVersion: (version: number) => `/mesh/versions/${pad(version)}`,
  meshVersionsPrefix: '/mesh/versions/',
  meshPrefix: '/mesh/',
  /** What every config key starts with (/configs/, /configversions/, /configblobs/, /confighosts/). */
  configKeysPrefix: '/config',
  /** Configs: the latest version of each, by namespace and path (ConfigVersion JSON). */
  config: (ns: string, path: string) => `/configs/${ns}/${path}`,
  configsPrefix: (ns: string) => `/configs/${ns}/`,
  /** Every version of a config (`@` cannot occur in a path, so one path's range holds no other's). */
  configVersion: (ns: string, path: string, version: number) =>
    `/configversions/${ns}/${path}@${pad(version)}`,
  configVersionsPrefix: (ns: string, path: string) => `/configversions/${ns}/${path}@`,
  /** Small config contents, base64, by digest: every replica can serve them (docs/config.md). */
  configBlob: (digest: string) => `/configblobs/${digest}`,
  /** What each host has of each config: {version, digest, at}. */
  configHost: (ns: string, path: string, host: string) => `/confighosts/${ns}/${path}@${host}`,
  configHostsPrefix: (ns: string, path: string) => `/confighosts/${ns}/${path}@`,
  /** Where a job's volumes live, per task slot (VolumeRecord, written by the scheduler). */
  volume: (job: string, slot: number) => `/volumes/${job}/${pad(slot)}`,
  volumesPrefix: '/volumes/',
  jobVolumesPrefix: (job: string) => `/volumes/${job}/`,
  /** What a job's TaskControl controller holds up (TaskControlState), written by the scheduler. */
  taskControl: (job: string) => `/taskcontrol/${job}`,
  taskControlPrefix: '/taskcontrol/',
  /** The remediation rules in force (RemediationRulesView without `rules` parsed: its user form). */
  remediationRules: '/remediation/rules',
  /** What remediation did, held back or only logged (RemediationRecord), in time order. */
  remediationRecord: (at: number, id: string) => `/remediation/log/${String(at).padStart(15, '0')}-${id}`,
  remediationLogPrefix: '/remediation/log/',
  /** Dashboards (Board JSON), by namespace and name. */
  board: (ns: string, name: string) => `/boards/${ns}/${name}`,
  boardsPrefix: (ns: string) => `/boards/${ns}/`,
  allBoardsPrefix: '/boards/',
  /** A host loaned out of its pool (Loan: from, holder, start, recall?), written by the pools broker. */
  loan: (host: string) => `/loans/${host}`,
  loansPrefix: '/loans/',
  /** A batch task marked to stop (preemption for a service or a recalled loan; VictimMark). */
  preemptionVictim: (job: string, task: string) => `/preemptions/victims/${job}/${task}`,
  preemptionVictimsPrefix: '/preemptions/victims/',
  /** The room a service's preemptions free, reserved for it until a time (StoredReservation). */
  preemptionReserved: (job: string) => `/preemptions/reserved/${job}`,
  preemptionReservedPrefix: '/preemptions/reserved/',
  /** A command to a host's agent (HostCommand: restart-runtime), answered by the agent in the record. */
  hostCommand: (host: string, id: string) => `/hostcmds/${host}/${id}`,
  hostCommandsPrefix: (host: string) => `/hostcmds/${host}/`,
  /** The cluster's images by name (ImageRecord: digest, or a tombstone after `dabba image rm`). */
  image: (name: string) => `/images/${name}`,
  imagesPrefix: '/images/',
} as const;

/** Task ids are `JOB-xxxxx`: the job name, a dash and a 5-character random suffix. */
export const TASK_SUFFIX_LENGTH = 5;

/** A new task id for the job with this id: the job's name (not its namespace), a dash and the suffix. */
export function taskIdFor(job: string, suffix: string): string {
  return `${splitJobId(job).name}-${suffix}`;
}

/**
 * The id of the job a task id belongs to (in `namespace`, default `default`), or undefined if the id
 * is not of the form JOB-xxxxx.
 */
export function jobOfTaskId(id: string, namespace = 'default'): string | undefined {
  const m = /^([a-z0-9](?:[a-z0-9-]*[a-z0-9])?)-[a-z0-9]{5}$/.exec(id);
  const name = m?.[1];
  return name === undefined ? undefined : namespace === 'default' ? name : `${namespace}:${name}`;
}

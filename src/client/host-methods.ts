/**
 * The API client's host methods: the fleet's hosts and pools, draining and maintenance, and what an
 * agent calls (join, heartbeat, assignments, status, certificates).
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import type {
  HostCondition,
  HostCommandsView,
  HostView,
  PoolsView,
  RegisterHostRequest,
  RegisterHostResult,
  TaskStatus,
  Task,
  VolumeRecord,
  ClusterCaView,
  HostCertificateView,
  JoinResult,
  HistoryStep,
  HostHistorySnapshot,
} from '../model/index.ts';
import { JobMethods } from './job-methods.ts';

export class HostMethods extends JobMethods {
  // Hosts
  hosts(): Promise<HostView[]> {
    return this.requestJson('GET', '/v1/hosts');
  }
  /** Pools of hosts and the loans between them (docs/elastic.md). */
  pools(): Promise<PoolsView> {
    return this.requestJson('GET', '/v1/pools');
  }
  setHostSchedulable(
    id: string,
    action: 'cordon' | 'uncordon',
  ): Promise<{ host: string; schedulable: string; changed: boolean }> {
    return this.requestJson('POST', `/v1/hosts/${encodeURIComponent(id)}/${action}`, { body: {} });
  }
  registerHost(req: RegisterHostRequest): Promise<RegisterHostResult> {
    return this.requestJson('POST', '/v1/hosts', { body: req });
  }
  heartbeat(hostId: string, lease: number, conditions?: HostCondition[]): Promise<{ ok: true }> {
    return this.requestJson('POST', `/v1/hosts/${encodeURIComponent(hostId)}/heartbeat`, {
      body: conditions === undefined ? { lease } : { lease, conditions },
    });
  }
  assignments(hostId: string): Promise<{ revision: number; tasks: Task[] }> {
    return this.requestJson('GET', `/v1/hosts/${encodeURIComponent(hostId)}/assignments`);
  }
  /** Commands to this host's agent not answered yet (restart-runtime), and the revision to watch from. */
  hostCommands(hostId: string): Promise<HostCommandsView> {
    return this.requestJson('GET', `/v1/hosts/${encodeURIComponent(hostId)}/commands`);
  }
  /** The agent's answer to a command. */
  answerHostCommand(
    hostId: string,
    id: string,
    result: { ok: boolean; detail: string },
  ): Promise<{ ok: true }> {
    const path = `/v1/hosts/${encodeURIComponent(hostId)}/commands/${encodeURIComponent(id)}/result`;
    return this.requestJson('POST', path, { body: result });
  }
  /** The volumes the scheduler keeps on this host (docs/volumes.md). */
  hostVolumes(hostId: string): Promise<{ revision: number; volumes: VolumeRecord[]; jobs: string[] }> {
    return this.requestJson('GET', `/v1/hosts/${encodeURIComponent(hostId)}/volumes`);
  }
  /** The cluster CA (public). */
  clusterCa(): Promise<ClusterCaView> {
    return this.requestJson('GET', '/v1/ca');
  }
  /** Renews this host's certificate; the request must present the current one (client certificate). */
  renewHostCertificate(hostId: string, csr: string): Promise<HostCertificateView> {
    return this.requestJson('POST', `/v1/hosts/${encodeURIComponent(hostId)}/certificate`, { body: { csr } });
  }
  reportStatus(status: TaskStatus): Promise<{ ok: true }> {
    return this.requestJson('PUT', `/v1/tasks/${encodeURIComponent(status.id)}/status`, { body: status });
  }

  /**
   * Exchanges a join token (this client's) for the host's credential; with a CSR (`csr`), also for a
   * host certificate for `address` (default: the address the server sees the request come from).
   */
  join(hostId: string, cert?: { csr: string; address?: string }): Promise<JoinResult> {
    return this.requestJson('POST', '/v1/hosts/join', { body: { hostId, ...cert } });
  }
  /** The host-history snapshot nearest `at` (ISO-8601, epoch ms, `now`, `-30s`), or the one before/after it. */
  hostHistory(id: string, at: string, step: HistoryStep = 'nearest'): Promise<HostHistorySnapshot> {
    const q = new URLSearchParams({ at, ...(step === 'nearest' ? {} : { step }) });
    return this.requestJson('GET', `/v1/hosts/${encodeURIComponent(id)}/history?${q.toString()}`);
  }
  drainHost(
    id: string,
    deadline?: string,
  ): Promise<{ host: string; schedulable: string; changed: boolean; drainDeadline?: number }> {
    return this.requestJson('POST', `/v1/hosts/${encodeURIComponent(id)}/drain`, {
      body: deadline === undefined ? {} : { deadline },
    });
  }
  /** Announces maintenance of hosts: `deadline` and `start` are ISO-8601 times or durations from now. */
  hostMaintenance(req: { hosts: string[]; deadline: string; start?: string; reason: string }): Promise<{
    hosts: { host: string; changed: boolean }[];
    start: number;
    deadline: number;
    reason: string;
  }> {
    return this.requestJson('POST', '/v1/maintenance', { body: req });
  }
  /** Ends maintenance: the hosts are ready again. */
  endHostMaintenance(hosts: string[]): Promise<{ hosts: { host: string; changed: boolean }[] }> {
    return this.requestJson('POST', '/v1/maintenance/end', { body: { hosts } });
  }
}

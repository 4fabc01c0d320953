/**
 * The API client's mesh methods: service discovery (namespaced) and the dependency file (one per
 * cluster).
 * One link of the chain of classes DabbaClient is built from (see client.ts).
 */
import type {
  HostMeshView,
  HostPeersView,
  MeshApplyResult,
  MeshStatsView,
  MeshVersion,
  ServiceEndpoints,
  ServiceSummary,
} from '../model/index.ts';
import { ImageMethods } from './image-methods.ts';

export class MeshMethods extends ImageMethods {
  // Mesh: discovery (namespaced) and the dependency file (one per cluster).
  services(): Promise<ServiceSummary[]> {
    return this.requestJson('GET', this.namespaced('/v1/services'));
  }
  serviceEndpoints(name: string): Promise<ServiceEndpoints> {
    return this.requestJson('GET', this.namespaced(`/v1/services/${encodeURIComponent(name)}/endpoints`));
  }
  /** Follows a service's endpoints: the set now, then each time it changes, until `signal` aborts. */
  watchServiceEndpoints(name: string, signal: AbortSignal): AsyncGenerator<ServiceEndpoints> {
    const path = this.namespaced(`/v1/services/${encodeURIComponent(name)}/endpoints?watch=1`);
    return this.followSse<ServiceEndpoints>(path, 'endpoints', signal);
  }
  /** What this host's proxy is made from, now and on every change (for agents). */
  watchHostMesh(hostId: string, signal: AbortSignal): AsyncGenerator<HostMeshView> {
    return this.followSse<HostMeshView>(
      `/v1/hosts/${encodeURIComponent(hostId)}/mesh?watch=1`,
      'mesh',
      signal,
    );
  }
  /** The other live hosts' task ranges and addresses, now and on every change (for agents: host-gw). */
  watchHostPeers(hostId: string, signal: AbortSignal): AsyncGenerator<HostPeersView> {
    return this.followSse<HostPeersView>(
      `/v1/hosts/${encodeURIComponent(hostId)}/peers?watch=1`,
      'peers',
      signal,
    );
  }
  /** The dependency file's current version (null before the first apply). */
  mesh(): Promise<MeshVersion | null> {
    return this.requestJson('GET', '/v1/mesh');
  }
  meshVersions(): Promise<MeshVersion[]> {
    return this.requestJson('GET', '/v1/mesh/versions');
  }
  /** Stores a dependency file (its YAML as a JSON value) as a new version, with why. */
  meshApply(file: unknown, message: string): Promise<MeshApplyResult> {
    return this.requestJson('PUT', '/v1/mesh', { body: { file, message } });
  }
  /** Every host's proxy's stats, added up (with `service`: where it is the caller or the upstream). */
  meshStats(service?: string): Promise<MeshStatsView> {
    return this.requestJson(
      'GET',
      `/v1/mesh/stats${service === undefined ? '' : `?service=${encodeURIComponent(service)}`}`,
    );
  }
  meshRollback(version?: number): Promise<MeshApplyResult & { restored: number }> {
    return this.requestJson('POST', '/v1/mesh/rollback', { body: version === undefined ? {} : { version } });
  }
}

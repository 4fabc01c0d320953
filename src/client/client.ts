/**
 * The typed HTTP client for the Dabba API. The CLI, the agent and the web UI talk to the control
 * plane only through this. Several server addresses may be given: requests fail over between them.
 *
 * DabbaClient's methods are grouped by area, one file each, in a chain of classes: transport.ts
 * (servers, failover, TLS, the request itself) <- job-methods.ts <- host-methods.ts <-
 * identity-methods.ts <- image-methods.ts <- mesh-methods.ts <- telemetry-methods.ts <-
 * stream-methods.ts <- this file (the cluster's own endpoints and the sub-APIs of other files).
 */
import type { HealthView, ServersView, VersionView } from '../model/index.ts';
import { boardApi, type BoardApi } from './boards.ts';
import { configDistApi, type ConfigDistApi } from './configdist.ts';
import { configApi, type ConfigApi } from './configs.ts';
import { remediationApi, type RemediationApi } from './remediation.ts';
import { StreamMethods } from './stream-methods.ts';

export type { ConfigApi, ConfigContent } from './configs.ts';
export type { RemediationApi } from './remediation.ts';
export type { TableQuery } from './telemetry-methods.ts';
export type { ClientOptions } from './transport.ts';

export { parseAddrs } from './addrs.ts';

export type {
  AuditRecord,
  AuditRecord as AuditRow,
  CreatedToken,
  JoinResult,
  QuotaChange,
  TokenListEntry,
} from '../model/index.ts';

export class DabbaClient extends StreamMethods {
  /** A client like this one (same servers and TLS settings) with another token or namespace. */
  with(o: { token?: string; namespace?: string }): DabbaClient {
    const { token, namespace, ...rest } = this.options();
    const t = o.token ?? token;
    const n = o.namespace ?? namespace;
    return new DabbaClient({
      ...rest,
      ...(t === undefined ? {} : { token: t }),
      ...(n === undefined ? {} : { namespace: n }),
    });
  }

  /** A client like this one (same TLS settings and token) to another address: a peer's endpoint. */
  at(addr: string): DabbaClient {
    const { namespace: _namespace, ...rest } = this.options();
    return new DabbaClient({ ...rest, addr: [addr] });
  }

  /** Remediation rules and log (`dabba remediation`): see remediation.ts. */
  remediation(): RemediationApi {
    return remediationApi((method, path, opts) => this.request(method, path, opts));
  }

  /** Config distribution's control and metadata streams: see configdist.ts. */
  configDist(): ConfigDistApi {
    return configDistApi((method, path, opts) => this.request(method, path, opts));
  }

  /** Configs (`dabba config`): see configs.ts. */
  configs(): ConfigApi {
    return configApi(
      (method, path, opts) => this.request(method, this.namespaced(path), opts),
      (path, opts) => this.requestStream(this.namespaced(path), opts),
    );
  }

  /** Dashboards (`/v1/boards`): see boards.ts. */
  boards(): BoardApi {
    return boardApi((method, path, body) =>
      this.requestJson(method, this.namespaced(path), body === undefined ? {} : { body }),
    );
  }

  health(): Promise<HealthView> {
    return this.requestJson('GET', '/v1/health');
  }
  /** The server's version and store, and the runtimes its hosts run tasks with. */
  version(): Promise<VersionView> {
    return this.requestJson('GET', '/v1/version');
  }
  /** The control-plane replicas, which shards each owns, and the store's health. */
  servers(): Promise<ServersView> {
    return this.requestJson('GET', '/v1/servers');
  }
}

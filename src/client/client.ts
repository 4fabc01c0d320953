/**
 * The typed HTTP client for the Dabba API. The CLI, the agent and the web UI talk to the control
 * plane only through this. Several server addresses may be given: requests fail over between them.
 */
import { DabbaError, UnavailableError } from '../errors/index.ts';
import type {
  HostMeshView,
  MeshApplyResult,
  MeshStatsView,
  MeshVersion,
  ServiceEndpoints,
  ServiceSummary,
  DabbaEvent,
  Deployment,
  HealthView,
  HostCondition,
  HostView,
  PoolsView,
  ImageRemoval,
  LogDrop,
  LogGap,
  LogInstance,
  JobPlanView,
  JobSummary,
  JobVersionRecord,
  JobView,
  NamespaceView,
  PutJobResult,
  RegisterHostRequest,
  RegisterHostResult,
  ServersView,
  VersionView,
  TaskRow,
  TaskStatus,
  Task,
  VolumeRecord,
  WatchEventWire,
  ClusterCaView,
  AuditRecord,
  CreatedToken,
  HostCertificateView,
  JoinResult,
  QuotaChange,
  TokenListEntry,
} from '../model/index.ts';
import { LOG_INSTANCE_HEADER } from '../model/index.ts';
import { logHoleNotes } from './log-holes.ts';
import type { ExecSpec, HistoryStep, HostHistorySnapshot } from '../model/index.ts';
import type { IngestBatch, IngestResult, MetricsQuery, MetricsQueryResult } from '../model/index.ts';
import type { LogTableInfo, LogTableQueryResult, TaskLogBatch } from '../model/index.ts';

/** A log table query (`dabba table query`); see queryTable. */
export interface TableQuery {
  where?: string[];
  by?: string[];
  agg?: string;
  since?: string;
  bucket?: string;
  limit?: number;
}
import { openExec, type ExecConnection } from './exec-upgrade.ts';
import { parseAddrs } from './addrs.ts';
import { errorFromBody, ndjson, parseResponse } from './responses.ts';
import { readSse } from './sse.ts';
import { configDistApi, type ConfigDistApi } from './configdist.ts';
import { configApi, type ConfigApi } from './configs.ts';
import { remediationApi, type RemediationApi } from './remediation.ts';
import { boardApi, type BoardApi } from './boards.ts';

export type { ConfigApi, ConfigContent } from './configs.ts';
export type { RemediationApi } from './remediation.ts';

export { parseAddrs } from './addrs.ts';
import {
  certificateErrorCode,
  tlsDispatcher,
  untrustedServerError,
  withDispatcher,
  type ClientTls,
} from './tls.ts';

export type {
  AuditRecord,
  AuditRecord as AuditRow,
  CreatedToken,
  JoinResult,
  QuotaChange,
  TokenListEntry,
} from '../model/index.ts';

export interface ClientOptions {
  /** One or more base URLs (http://host:port), or a comma-separated string of them. */
  addr: string | string[];
  /** Per-request timeout (not applied to streams). */
  timeoutMs?: number;
  /** Bearer token sent with every request (a user's token, or a host's credential). */
  token?: string;
  /** Namespace of namespaced requests (`?namespace=`; `*`: every namespace, for lists). Default: the server's, `default`. */
  namespace?: string;
  /** PEM of the CA that https:// servers are verified against (the cluster CA; default: the system's). */
  ca?: string;
  /** PEM of a client certificate and its key, presented over TLS (an agent's host certificate). */
  cert?: string;
  key?: string;
}

interface RequestOptions {
  body?: unknown;
  /** A raw body streamed as is (e.g. a tar archive), with its content type. */
  /** A body streamed (an upload) or given whole. */
  raw?: { stream: AsyncIterable<Uint8Array> | Uint8Array; contentType: string };
  headers?: Record<string, string>;
  signal?: AbortSignal;
  stream?: boolean;
}

export class DabbaClient {
  readonly addrs: string[];
  #current = 0;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #ns: string;
  #tls: ClientTls;
  #dispatcher: ReturnType<typeof tlsDispatcher>;

  constructor(options: ClientOptions) {
    this.addrs = parseAddrs(options.addr);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#token = options.token;
    this.#ns = options.namespace === undefined ? '' : `namespace=${encodeURIComponent(options.namespace)}`;
    this.#tls = {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    };
    this.#dispatcher = tlsDispatcher(this.#tls);
  }

  /** A client like this one (same servers and TLS settings) with another token or namespace. */
  with(o: { token?: string; namespace?: string }): DabbaClient {
    const ns = this.#ns === '' ? undefined : decodeURIComponent(this.#ns.slice('namespace='.length));
    const token = o.token ?? this.#token;
    const namespace = o.namespace ?? ns;
    return new DabbaClient({
      addr: this.addrs,
      timeoutMs: this.#timeoutMs,
      ...this.#tls,
      ...(token === undefined ? {} : { token }),
      ...(namespace === undefined ? {} : { namespace }),
    });
  }

  /** A namespaced path: `?namespace=` added when the client has one. */
  #n(path: string): string {
    if (this.#ns === '') return path;
    return `${path}${path.includes('?') ? '&' : '?'}${this.#ns}`;
  }

  /**
   * Presents another client certificate from the next request on (an agent's renewed host
   * certificate). Open streams keep the connection they have.
   */
  setClientCertificate(cert: string, key: string): void {
    const old = this.#dispatcher;
    this.#tls = { ...this.#tls, cert, key };
    this.#dispatcher = tlsDispatcher(this.#tls);
    // Let requests in flight finish on the old connections.
    void old?.close().catch(() => undefined);
  }

  /** The address requests currently go to. */
  get addr(): string {
    return this.addrs[this.#current] ?? this.addrs[0] ?? '';
  }

  /** The headers every request carries (fetch and upgrades alike), with a request's own. */
  /** Every request's headers, upgrades included: its own and the bearer token, if any. */
  #headers(own: Record<string, string> = {}): Record<string, string> {
    return this.#token === undefined ? { ...own } : { ...own, authorization: `Bearer ${this.#token}` };
  }

  async #fetch(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    let lastError: unknown;
    for (let i = 0; i < this.addrs.length; i++) {
      const idx = (this.#current + i) % this.addrs.length;
      const base = this.addrs[idx] ?? '';
      const signals: AbortSignal[] = [];
      if (opts.signal) signals.push(opts.signal);
      if (!opts.stream) signals.push(AbortSignal.timeout(this.#timeoutMs));
      try {
        const init: RequestInit & { duplex?: 'half' } = { method, signal: AbortSignal.any(signals) };
        if (opts.body !== undefined) {
          init.body = JSON.stringify(opts.body);
          init.headers = { 'content-type': 'application/json' };
        } else if (opts.raw) {
          // A stream can be sent once: no failover for uploads. (Node's fetch takes an async iterable;
          // the DOM's BodyInit, which the web UI's typecheck sees, does not list it.)
          Object.assign(init, { body: opts.raw.stream, duplex: 'half' });
          init.headers = { 'content-type': opts.raw.contentType };
        }
        init.headers = this.#headers({
          ...(init.headers as Record<string, string> | undefined),
          ...opts.headers,
        });
        const res = await fetch(base + path, withDispatcher(init, this.#dispatcher));
        if (res.status === 503 && i < this.addrs.length - 1) {
          await res.body?.cancel();
          continue;
        }
        this.#current = idx;
        return res;
      } catch (e) {
        if (opts.signal?.aborted) throw e;
        const tlsCode = certificateErrorCode(e);
        // A server that cannot be verified is not failed over from silently: say what to fix.
        if (tlsCode !== undefined) throw untrustedServerError(base, tlsCode, this.#tls.ca !== undefined, e);
        lastError = e;
      }
    }
    const timedOut = lastError instanceof DOMException && lastError.name === 'TimeoutError';
    throw new UnavailableError(
      timedOut
        ? `server ${this.addrs.join(', ')} did not answer within ${this.#timeoutMs} ms`
        : `cannot reach the Dabba server at ${this.addrs.join(', ')} (is it running? set --addr or DABBA_ADDR)`,
      { cause: lastError, details: { addrs: this.addrs } },
    );
  }

  async #json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.#fetch(method, path, opts);
    return (await parseResponse(res)) as T;
  }

  /** Remediation rules and log (`dabba remediation`): see remediation.ts. */
  remediation(): RemediationApi {
    return remediationApi((method, path, opts) => this.#fetch(method, path, opts));
  }

  /** A client like this one (same TLS settings and token) to another address: a peer's endpoint. */
  at(addr: string): DabbaClient {
    return new DabbaClient({
      addr: [addr],
      timeoutMs: this.#timeoutMs,
      ...this.#tls,
      ...(this.#token === undefined ? {} : { token: this.#token }),
    });
  }

  /** Config distribution's control and metadata streams: see configdist.ts. */
  configDist(): ConfigDistApi {
    return configDistApi((method, path, opts) => this.#fetch(method, path, opts));
  }

  /** Configs (`dabba config`): see configs.ts. */
  configs(): ConfigApi {
    return configApi((method, path, opts) => this.#fetch(method, this.#n(path), opts));
  }

  /** Dashboards (`/v1/boards`): see boards.ts. */
  boards(): BoardApi {
    return boardApi((method, path, body) =>
      this.#json(method, this.#n(path), body === undefined ? {} : { body }),
    );
  }

  health(): Promise<HealthView> {
    return this.#json('GET', '/v1/health');
  }
  /** The server's version and store, and the runtimes its hosts run tasks with. */
  version(): Promise<VersionView> {
    return this.#json('GET', '/v1/version');
  }
  /** The control-plane replicas, which shards each owns, and the store's health. */
  servers(): Promise<ServersView> {
    return this.#json('GET', '/v1/servers');
  }

  // Jobs
  putJob(name: string, userForm: unknown): Promise<PutJobResult> {
    return this.#json('PUT', this.#n(`/v1/jobs/${encodeURIComponent(name)}`), { body: userForm });
  }
  /** What deploying this job file would change, computed by the server with nothing written. */
  planJob(name: string, userForm: unknown): Promise<JobPlanView> {
    return this.#json('POST', this.#n(`/v1/jobs/${encodeURIComponent(name)}/plan`), { body: userForm });
  }
  getJob(name: string): Promise<JobView> {
    return this.#json('GET', this.#n(`/v1/jobs/${encodeURIComponent(name)}`));
  }
  listJobs(): Promise<JobSummary[]> {
    return this.#json('GET', this.#n('/v1/jobs'));
  }
  stopJob(name: string): Promise<{ job: string; stopped: boolean }> {
    return this.#json('DELETE', this.#n(`/v1/jobs/${encodeURIComponent(name)}`));
  }
  /** Removes a stopped job's records (its job, versions and deployments); 409 while it has tasks. */
  purgeJob(name: string): Promise<{ job: string; purged: true; versions: number; deployments: number }> {
    return this.#json('DELETE', `/v1/jobs/${encodeURIComponent(name)}?purge=1`);
  }
  jobVersions(name: string): Promise<JobVersionRecord[]> {
    return this.#json('GET', this.#n(`/v1/jobs/${encodeURIComponent(name)}/versions`));
  }
  jobTasks(name: string): Promise<TaskRow[]> {
    return this.#json('GET', this.#n(`/v1/jobs/${encodeURIComponent(name)}/tasks`));
  }
  promoteJob(name: string): Promise<{ job: string; version: number; promoted: boolean; changed: boolean }> {
    return this.#json('POST', this.#n(`/v1/jobs/${encodeURIComponent(name)}/promote`), { body: {} });
  }
  /** The host-history snapshot nearest `at` (ISO-8601, epoch ms, `now`, `-30s`), or the one before/after it. */
  hostHistory(id: string, at: string, step: HistoryStep = 'nearest'): Promise<HostHistorySnapshot> {
    const q = new URLSearchParams({ at, ...(step === 'nearest' ? {} : { step }) });
    return this.#json('GET', `/v1/hosts/${encodeURIComponent(id)}/history?${q.toString()}`);
  }
  drainHost(
    id: string,
    deadline?: string,
  ): Promise<{ host: string; schedulable: string; changed: boolean; drainDeadline?: number }> {
    return this.#json('POST', `/v1/hosts/${encodeURIComponent(id)}/drain`, {
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
    return this.#json('POST', '/v1/maintenance', { body: req });
  }
  /** Ends maintenance: the hosts are ready again. */
  endHostMaintenance(hosts: string[]): Promise<{ hosts: { host: string; changed: boolean }[] }> {
    return this.#json('POST', '/v1/maintenance/end', { body: { hosts } });
  }
  rollbackJob(name: string, version?: number): Promise<PutJobResult & { from: number; to: number }> {
    return this.#json('POST', this.#n(`/v1/jobs/${encodeURIComponent(name)}/rollback`), {
      body: version === undefined ? {} : { version },
    });
  }
  /** A new version with only `replicas` changed (rolled out like a deploy). */
  scaleJob(name: string, replicas: number): Promise<PutJobResult & { from: number }> {
    return this.#json('POST', this.#n(`/v1/jobs/${encodeURIComponent(name)}/scale`), { body: { replicas } });
  }
  /** A new version that replaces every task (a rolling restart under the update budget). */
  restartJob(name: string): Promise<PutJobResult & { from: number }> {
    return this.#json('POST', this.#n(`/v1/jobs/${encodeURIComponent(name)}/restart`), { body: {} });
  }
  jobDeployments(name: string): Promise<Deployment[]> {
    return this.#json('GET', this.#n(`/v1/jobs/${encodeURIComponent(name)}/deployments`));
  }

  // Hosts
  hosts(): Promise<HostView[]> {
    return this.#json('GET', '/v1/hosts');
  }
  /** Pools of hosts and the loans between them (docs/elastic.md). */
  pools(): Promise<PoolsView> {
    return this.#json('GET', '/v1/pools');
  }
  setHostSchedulable(
    id: string,
    action: 'cordon' | 'uncordon',
  ): Promise<{ host: string; schedulable: string; changed: boolean }> {
    return this.#json('POST', `/v1/hosts/${encodeURIComponent(id)}/${action}`, { body: {} });
  }
  registerHost(req: RegisterHostRequest): Promise<RegisterHostResult> {
    return this.#json('POST', '/v1/hosts', { body: req });
  }
  heartbeat(hostId: string, lease: number, conditions?: HostCondition[]): Promise<{ ok: true }> {
    return this.#json('POST', `/v1/hosts/${encodeURIComponent(hostId)}/heartbeat`, {
      body: conditions === undefined ? { lease } : { lease, conditions },
    });
  }
  assignments(hostId: string): Promise<{ revision: number; tasks: Task[] }> {
    return this.#json('GET', `/v1/hosts/${encodeURIComponent(hostId)}/assignments`);
  }
  /** The volumes the scheduler keeps on this host (docs/volumes.md). */
  hostVolumes(hostId: string): Promise<{ revision: number; volumes: VolumeRecord[]; jobs: string[] }> {
    return this.#json('GET', `/v1/hosts/${encodeURIComponent(hostId)}/volumes`);
  }
  /** The cluster CA (public). */
  clusterCa(): Promise<ClusterCaView> {
    return this.#json('GET', '/v1/ca');
  }
  /** Renews this host's certificate; the request must present the current one (client certificate). */
  renewHostCertificate(hostId: string, csr: string): Promise<HostCertificateView> {
    return this.#json('POST', `/v1/hosts/${encodeURIComponent(hostId)}/certificate`, { body: { csr } });
  }
  reportStatus(status: TaskStatus): Promise<{ ok: true }> {
    return this.#json('PUT', `/v1/tasks/${encodeURIComponent(status.id)}/status`, { body: status });
  }

  /**
   * Exchanges a join token (this client's) for the host's credential; with a CSR (`csr`), also for a
   * host certificate for `address` (default: the address the server sees the request come from).
   */
  join(hostId: string, cert?: { csr: string; address?: string }): Promise<JoinResult> {
    return this.#json('POST', '/v1/hosts/join', { body: { hostId, ...cert } });
  }

  // Time series
  /** Ships one batch of a host's points (agents); idempotent per (host, seq). */
  ingestMetrics(batch: IngestBatch): Promise<IngestResult> {
    return this.#json('POST', '/v1/metrics/ingest', { body: batch });
  }
  /** Queries a metric (the client's namespace's series; `*`: every series, host-level ones too). */
  queryMetrics(q: MetricsQuery): Promise<MetricsQueryResult> {
    const p = new URLSearchParams({ name: q.name });
    for (const w of q.where ?? []) p.append('where', w);
    for (const b of q.by ?? []) p.append('by', b);
    if (q.rate === true) p.set('rate', '1');
    for (const k of ['since', 'start', 'end', 'step', 'agg', 'over'] as const) {
      const v = q[k];
      if (v !== undefined) p.set(k, v);
    }
    return this.#json('GET', this.#n(`/v1/metrics/query?${p.toString()}`));
  }

  // Mesh: discovery (namespaced) and the dependency file (one per cluster).
  services(): Promise<ServiceSummary[]> {
    return this.#json('GET', this.#n('/v1/services'));
  }
  serviceEndpoints(name: string): Promise<ServiceEndpoints> {
    return this.#json('GET', this.#n(`/v1/services/${encodeURIComponent(name)}/endpoints`));
  }
  /** Follows a service's endpoints: the set now, then each time it changes, until `signal` aborts. */
  watchServiceEndpoints(name: string, signal: AbortSignal): AsyncGenerator<ServiceEndpoints> {
    const path = this.#n(`/v1/services/${encodeURIComponent(name)}/endpoints?watch=1`);
    return this.#followSse<ServiceEndpoints>(path, 'endpoints', signal);
  }
  /** What this host's proxy is made from, now and on every change (for agents). */
  watchHostMesh(hostId: string, signal: AbortSignal): AsyncGenerator<HostMeshView> {
    return this.#followSse<HostMeshView>(
      `/v1/hosts/${encodeURIComponent(hostId)}/mesh?watch=1`,
      'mesh',
      signal,
    );
  }
  /** The `event` messages of a server-sent event stream, parsed, until `signal` aborts. */
  async *#followSse<T>(path: string, event: string, signal: AbortSignal): AsyncGenerator<T> {
    const res = await this.#fetch('GET', path, { signal, stream: true });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    try {
      for await (const msg of readSse(res.body, signal)) {
        if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 500);
        if (msg.event === event) yield JSON.parse(msg.data) as T;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }
  /** The dependency file's current version (null before the first apply). */
  mesh(): Promise<MeshVersion | null> {
    return this.#json('GET', '/v1/mesh');
  }
  meshVersions(): Promise<MeshVersion[]> {
    return this.#json('GET', '/v1/mesh/versions');
  }
  /** Stores a dependency file (its YAML as a JSON value) as a new version, with why. */
  meshApply(file: unknown, message: string): Promise<MeshApplyResult> {
    return this.#json('PUT', '/v1/mesh', { body: { file, message } });
  }
  /** Every host's proxy's stats, added up (with `service`: where it is the caller or the upstream). */
  meshStats(service?: string): Promise<MeshStatsView> {
    return this.#json(
      'GET',
      `/v1/mesh/stats${service === undefined ? '' : `?service=${encodeURIComponent(service)}`}`,
    );
  }
  meshRollback(version?: number): Promise<MeshApplyResult & { restored: number }> {
    return this.#json('POST', '/v1/mesh/rollback', { body: version === undefined ? {} : { version } });
  }

  // Identity, namespaces, audit
  whoami(): Promise<{
    kind: string;
    name?: string;
    role?: string;
    hostId?: string;
    namespaces?: string[] | '*';
  }> {
    return this.#json('GET', '/v1/whoami');
  }
  createToken(req: {
    name: string;
    role: string;
    namespaces?: string[] | '*';
    ttl?: string;
  }): Promise<CreatedToken> {
    return this.#json('POST', '/v1/tokens', { body: req });
  }
  listTokens(): Promise<TokenListEntry[]> {
    return this.#json('GET', '/v1/tokens');
  }
  revokeToken(name: string): Promise<{ name: string; revoked: boolean }> {
    return this.#json('DELETE', `/v1/tokens/${encodeURIComponent(name)}`);
  }
  createNamespace(name: string, quota: QuotaChange = {}): Promise<NamespaceView> {
    return this.#json('POST', '/v1/namespaces', { body: { name, quota } });
  }
  listNamespaces(): Promise<NamespaceView[]> {
    return this.#json('GET', '/v1/namespaces');
  }
  setQuota(name: string, quota: QuotaChange): Promise<NamespaceView> {
    return this.#json('PUT', `/v1/namespaces/${encodeURIComponent(name)}/quota`, { body: quota });
  }
  audit(since?: number): Promise<AuditRecord[]> {
    return this.#json('GET', `/v1/audit${since === undefined ? '' : `?since=${since}`}`);
  }

  // Images
  listImages(): Promise<{ name: string; digest: string; size: number; created?: string; layers: number }[]> {
    return this.#json('GET', '/v1/images');
  }
  /** Uploads an OCI archive or `docker save` tarball. */
  importImage(tar: AsyncIterable<Uint8Array>, name?: string): Promise<{ name: string; digest: string }[]> {
    const q = name === undefined ? '' : `?name=${encodeURIComponent(name)}`;
    return this.#json('POST', `/v1/images/import${q}`, {
      raw: { stream: tar, contentType: 'application/x-tar' },
      stream: true,
    });
  }
  /** Uploads a tar of a root filesystem, packed by the server as a one-layer OCI image. */
  createImage(name: string, tar: AsyncIterable<Uint8Array>): Promise<{ name: string; digest: string }> {
    return this.#json('POST', `/v1/images/create?name=${encodeURIComponent(name)}`, {
      raw: { stream: tar, contentType: 'application/x-tar' },
      stream: true,
    });
  }
  /** Removes an image's name and the content only it used (`force`: even if a live job uses it). */
  removeImage(name: string, options: { force?: boolean } = {}): Promise<ImageRemoval> {
    const q = options.force ? '?force=1' : '';
    return this.#json('DELETE', `/v1/images/${encodeURIComponent(name)}${q}`);
  }

  /** Where an agent fetches images from: manifests by reference, blobs by digest (resumable). */
  imageSource(): {
    manifest(ref: string): Promise<{ bytes: Uint8Array; mediaType?: string; digest?: string }>;
    blob(digest: string, offset: number): Promise<AsyncIterable<Uint8Array>>;
  } {
    return {
      manifest: async (ref) => {
        const res = await this.#fetch('GET', `/v1/images/manifests/${encodeURIComponent(ref)}`);
        if (!res.ok) {
          await parseResponse(res);
        }
        const out: { bytes: Uint8Array; mediaType?: string; digest?: string } = {
          bytes: new Uint8Array(await res.arrayBuffer()),
        };
        const type = res.headers.get('content-type');
        const digest = res.headers.get('docker-content-digest');
        if (type) out.mediaType = type;
        if (digest) out.digest = digest;
        return out;
      },
      blob: async (digest, offset) => {
        const res = await this.#fetch('GET', `/v1/images/blobs/${encodeURIComponent(digest)}`, {
          stream: true,
          ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
        });
        if (!res.ok || !res.body) {
          await parseResponse(res);
          throw new DabbaError('DABBA_E_INTERNAL', `blob ${digest}: empty answer`);
        }
        if (offset > 0 && res.status !== 206) {
          await res.body.cancel();
          throw new DabbaError('DABBA_E_INTERNAL', `server ignored the range request for blob ${digest}`);
        }
        return res.body as AsyncIterable<Uint8Array>;
      },
    };
  }

  // Events and watch
  /** Log tables and their columns (rows counted in the client's namespace). */
  listTables(): Promise<LogTableInfo[]> {
    return this.#json('GET', this.#n('/v1/tables'));
  }
  /** `where`: COL=V, COL!=V, COL>N, COL<N, COL~REGEX...; `agg`: count,sum(C),avg(C),min(C),max(C),pNN(C). */
  queryTable(table: string, q: TableQuery = {}): Promise<LogTableQueryResult> {
    const p = new URLSearchParams();
    for (const w of q.where ?? []) p.append('where', w);
    for (const b of q.by ?? []) p.append('by', b);
    for (const k of ['agg', 'since', 'bucket', 'limit'] as const)
      if (q[k] !== undefined) p.set(k, String(q[k]));
    const path = `/v1/tables/${encodeURIComponent(table)}/query${p.size ? `?${p.toString()}` : ''}`;
    return this.#json('GET', this.#n(path));
  }
  /** Appends rows (JSON objects; columns are discovered) to a table of the client's namespace. */
  insertRows(table: string, rows: unknown[]): Promise<{ table: string; received: number; written: number }> {
    return this.#json('POST', this.#n(`/v1/tables/${encodeURIComponent(table)}/rows`), { body: { rows } });
  }
  /** Keeps 1 row in `sampleRate` of a table from now on (admin). */
  setTableSampleRate(table: string, sampleRate: number): Promise<{ table: string; sampleRate: number }> {
    return this.#json('PUT', `/v1/tables/${encodeURIComponent(table)}/settings`, { body: { sampleRate } });
  }
  /** An agent's batch of its tasks' output lines. */
  shipTaskLogs(hostId: string, batch: TaskLogBatch): Promise<{ written: number; refused: number }> {
    return this.#json('POST', `/v1/hosts/${encodeURIComponent(hostId)}/tasklogs`, { body: batch });
  }
  events(options: { job?: string; limit?: number } = {}): Promise<DabbaEvent[]> {
    const q = new URLSearchParams();
    if (options.job) q.set('job', options.job);
    if (options.limit) q.set('limit', String(options.limit));
    return this.#json('GET', this.#n(`/v1/events${q.size ? `?${q.toString()}` : ''}`));
  }

  /**
   * Follows the event log (`GET /v1/events?follow=1`): the newest `limit` events (of `job`), then
   * each new one, until the signal aborts. A lost connection is resumed from the last revision seen
   * (retrying every second while the server is away); if that revision was compacted meanwhile the
   * log is listed again, without repeating events already yielded.
   */
  async *followEvents(options: {
    job?: string;
    limit?: number;
    signal: AbortSignal;
  }): AsyncGenerator<DabbaEvent> {
    const { signal } = options;
    const seen = new Set<string>();
    let rev: number | undefined;
    while (!signal.aborted) {
      const q = new URLSearchParams({ follow: '1' });
      if (options.job) q.set('job', options.job);
      if (options.limit) q.set('limit', String(options.limit));
      if (rev !== undefined) q.set('rev', String(rev));
      try {
        const res = await this.#fetch('GET', this.#n(`/v1/events?${q.toString()}`), { signal, stream: true });
        if (!res.ok || !res.body) {
          await parseResponse(res);
          return;
        }
        for await (const msg of readSse(res.body, signal)) {
          if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 410);
          if (msg.event !== 'event') continue;
          const e = JSON.parse(msg.data) as DabbaEvent;
          if (msg.id !== undefined) rev = Number(msg.id) + 1;
          if (seen.has(e.id)) continue;
          if (seen.size >= 10_000) seen.clear();
          seen.add(e.id);
          yield e;
        }
      } catch (e) {
        if (signal.aborted) return;
        // Compacted: list again. The server away: retry. Anything else the server said: give up.
        if (e instanceof DabbaError) {
          if (e.code === 'DABBA_E_COMPACTED') rev = undefined;
          else if (e.code !== 'DABBA_E_UNAVAILABLE') throw e;
        }
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  }

  /**
   * Streams store events under prefix from revision `rev` (inclusive). Yields batches (one per
   * revision). Throws DabbaError DABBA_E_COMPACTED when rev is too old: re-list and watch again.
   */
  async *watch(
    prefix: string,
    rev: number | undefined,
    signal: AbortSignal,
  ): AsyncGenerator<WatchEventWire[]> {
    const q = new URLSearchParams({ prefix });
    if (rev !== undefined) q.set('rev', String(rev));
    const res = await this.#fetch('GET', `/v1/watch?${q.toString()}`, { signal, stream: true });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    try {
      for await (const msg of readSse(res.body, signal)) {
        if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 410);
        if (msg.event === 'events') yield (JSON.parse(msg.data) as { events: WatchEventWire[] }).events;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }

  /**
   * Runs a command in a task (`POST /v1/tasks/ID/exec`): yields its output as it comes, then one
   * `{exit}`. Aborting the signal ends the command.
   */
  async *exec(
    taskId: string,
    command: string[],
    signal: AbortSignal,
  ): AsyncGenerator<{ stream: 'stdout' | 'stderr'; data: Uint8Array } | { exit: number }> {
    const res = await this.#fetch('POST', this.#n(`/v1/tasks/${encodeURIComponent(taskId)}/exec`), {
      body: { command },
      signal,
      stream: true,
    });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    for await (const line of ndjson(res.body as AsyncIterable<Uint8Array>)) {
      const o = JSON.parse(line) as { stream?: string; data?: string; exit?: number; error?: string };
      if (typeof o.exit === 'number') {
        yield { exit: o.exit };
        return;
      }
      if (o.error !== undefined) throw new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${taskId}: ${o.error}`);
      if (o.data !== undefined)
        yield { stream: o.stream === 'stderr' ? 'stderr' : 'stdout', data: Buffer.from(o.data, 'base64') };
    }
    throw new DabbaError('DABBA_E_UNAVAILABLE', `exec in ${taskId}: the stream ended before the exit code`);
  }

  /**
   * Runs a command in a task interactively (`dabba exec -i/-t`): an HTTP/1.1 Upgrade of
   * `POST /v1/tasks/ID/exec` to the exec stream (model/exec-stream.ts). Refusals throw the server's
   * typed error; unreachable servers are failed over as for other requests.
   */
  async execInteractive(taskId: string, spec: ExecSpec, signal: AbortSignal): Promise<ExecConnection> {
    let lastError: unknown;
    for (let i = 0; i < this.addrs.length; i++) {
      const idx = (this.#current + i) % this.addrs.length;
      const base = this.addrs[idx] ?? '';
      let outcome;
      try {
        outcome = await openExec(base, taskId, spec, this.#headers(), this.#tls, signal);
      } catch (e) {
        if (signal.aborted) throw e;
        const tlsCode = certificateErrorCode(e);
        if (tlsCode !== undefined) throw untrustedServerError(base, tlsCode, this.#tls.ca !== undefined, e);
        lastError = e;
        continue;
      }
      if ('connection' in outcome) {
        this.#current = idx;
        return outcome.connection;
      }
      if (outcome.status === 503 && i < this.addrs.length - 1) continue;
      let body: unknown;
      try {
        body = JSON.parse(outcome.body);
      } catch {
        body = undefined;
      }
      throw errorFromBody(body, outcome.status);
    }
    throw new UnavailableError(
      `cannot reach the Dabba server at ${this.addrs.join(', ')} (is it running? set --addr or DABBA_ADDR)`,
      { cause: lastError, details: { addrs: this.addrs } },
    );
  }

  /** Streams a task's log lines (NDJSON from the server, proxied from the task's agent). */
  async *logs(
    taskId: string,
    options: {
      follow?: boolean;
      tail?: number;
      /** The instance before the current one (kept across a restart). */
      previous?: boolean;
      signal?: AbortSignal;
      /** Called before the first line when the log is not the running instance's (see LogInstance). */
      onInstance?: (instance: LogInstance) => void;
      /** Called before the first line when the host's disk took no writes lately (see LogGap). */
      onGaps?: (gaps: LogGap[]) => void;
      /** Called before the first line when output was dropped and counted (see LogDrop). */
      onDrops?: (drops: LogDrop[]) => void;
    } = {},
  ): AsyncGenerator<{ stream: string; time?: number; text: string }> {
    const q = new URLSearchParams();
    if (options.follow) q.set('follow', '1');
    if (options.tail !== undefined) q.set('tail', String(options.tail));
    if (options.previous) q.set('previous', '1');
    const signal = options.signal ?? new AbortController().signal;
    const res = await this.#fetch(
      'GET',
      this.#n(`/v1/tasks/${encodeURIComponent(taskId)}/logs?${q.toString()}`),
      {
        signal,
        stream: true,
      },
    );
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    const instance = res.headers.get(LOG_INSTANCE_HEADER);
    if (instance !== null && options.onInstance) {
      try {
        options.onInstance(JSON.parse(instance) as LogInstance);
      } catch {
        // a malformed header: no note
      }
    }
    logHoleNotes(res.headers, options);
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') yield JSON.parse(line) as { stream: string; time?: number; text: string };
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }
}

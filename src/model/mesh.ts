/**
 * The service mesh's data: a service's endpoints (discovery), the dependency file in its resolved
 * form (every default filled in, durations in milliseconds), and its stored versions.
 */

/** One endpoint of a service: a task that is running and ready, with where it is reachable. */
export interface ServiceEndpoint {
  task: string;
  host: string;
  /** The task's own address (its IP with oci; 127.0.0.1 with the process runtime). */
  address: string;
  /** Declared port name -> port reachable at `address`. */
  ports: Record<string, number>;
  /** The job version the task runs. */
  version: number;
}

/** `GET /v1/services/NAME/endpoints`: a service (a job) and its endpoints now. */
export interface ServiceEndpoints {
  service: string;
  namespace: string;
  /** The store revision this answer was read at (a watch resumes after it). */
  revision: number;
  endpoints: ServiceEndpoint[];
}

/** `GET /v1/services`: one row per service (job of type service). */
export interface ServiceSummary {
  service: string;
  namespace: string;
  /** Declared port names. */
  ports: string[];
  replicas: number;
  /** How many tasks are endpoints now (running and ready). */
  ready: number;
}

export type LoadBalancing = 'p2c' | 'round-robin' | 'least-connections';
export type RetryMethods = 'idempotent' | 'all';

export interface RetryPolicy {
  /** What is retried: connect-failure, empty-response, junk-response, response-timeout, or a status. */
  on: string[];
  max: number;
  perTryTimeoutMs: number;
  methods: RetryMethods;
}

export interface UpstreamPolicy {
  loadBalancing: LoadBalancing;
  connectTimeoutMs: number;
  timeoutMs: number;
  retries: RetryPolicy;
  circuitBreaker: { maxConnections: number; maxPending: number };
  outlierDetection: { consecutive5xx: number; ejectionTimeMs: number };
}

export interface InboundPolicy {
  /** Requests a task of the service handles at once (HAProxy's per-server maxconn). */
  maxConcurrency: number;
  /** How long a request may wait for one of those slots before it gets 503 (0: off). */
  queueTimeoutMs: number;
}

export interface ServiceMesh {
  upstreams: Record<string, UpstreamPolicy>;
  inbound: InboundPolicy;
  /** Ingress port on every host, if exposed. */
  expose?: number;
}

/** The dependency file, resolved: what the proxies are configured from. */
export interface MeshConfig {
  services: Record<string, ServiceMesh>;
}

/** A stored version of the dependency file. */
export interface MeshVersion {
  version: number;
  config: MeshConfig;
  author: string;
  message: string;
  createdAt: number;
  /** For a rollback: the version whose config this one restores. */
  restores?: number;
}

/** `PUT /v1/mesh` answer. */
export interface MeshApplyResult {
  version: number;
  changed: boolean;
}

/** One difference between two dependency files: a setting of a service, in user form. */
export interface MeshChange {
  service: string;
  /** The setting's path inside the service, e.g. `upstreams.back.timeout`; empty for the whole service. */
  setting: string;
  kind: 'added' | 'removed' | 'changed';
  from?: unknown;
  to?: unknown;
}

/** The environment variable through which a task reaches an upstream: DABBA_UPSTREAM_<NAME>. */
export function upstreamEnvName(upstream: string): string {
  return `DABBA_UPSTREAM_${upstream.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** `GET /v1/hosts/ID/mesh`: what a host's proxy is made from. */
export interface HostMeshView {
  revision: number;
  /** The current dependency file (null before the first apply). */
  mesh: MeshVersion | null;
  /** The endpoints of every service the file names (as a service or an upstream). */
  endpoints: Record<string, ServiceEndpoint[]>;
  /**
   * Host id -> the address its agent advertises (where its proxy's inbound side listens), for the
   * hosts of those endpoints.
   */
  hosts?: Record<string, string>;
}

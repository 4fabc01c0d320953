/**
 * The one authorization table: every API route (method and pattern, as registered on the router)
 * and the permission it needs. The server refuses to start with a route missing here, and the
 * authorization test enumerates the router's routes against it.
 */
import type { Permission } from './permissions.ts';

export const ROUTE_PERMISSIONS: Readonly<Record<string, Permission>> = {
  'GET /v1/health': 'open',
  // The cluster CA certificate is public: an agent fetches it (and checks its pin) before it trusts
  // the server with anything.
  'GET /v1/ca': 'open',
  'GET /v1/whoami': 'authenticated',
  // The web UI's static files (and / redirecting to it): public; the API calls it makes carry the token.
  'GET /': 'open',
  'GET /ui': 'open',
  'GET /ui/:file': 'open',
  'GET /v1/version': 'authenticated',
  // Listed and followed (?follow=1): the namespace's jobs' events and those naming no job.
  'GET /v1/events': 'namespace-read',
  'GET /v1/servers': 'cluster-read',
  // Jobs (namespaced: ?namespace=NS)
  'GET /v1/jobs': 'namespace-read',
  'PUT /v1/jobs/:name': 'namespace-write',
  'GET /v1/jobs/:name': 'namespace-read',
  'DELETE /v1/jobs/:name': 'namespace-write',
  'POST /v1/jobs/:name/plan': 'namespace-read',
  'POST /v1/jobs/:name/promote': 'namespace-write',
  'POST /v1/jobs/:name/rollback': 'namespace-write',
  'POST /v1/jobs/:name/scale': 'namespace-write',
  'POST /v1/jobs/:name/restart': 'namespace-write',
  'GET /v1/jobs/:name/versions': 'namespace-read',
  'GET /v1/jobs/:name/tasks': 'namespace-read',
  'GET /v1/jobs/:name/deployments': 'namespace-read',
  'GET /v1/tasks/:id': 'namespace-read',
  'GET /v1/tasks/:id/logs': 'namespace-read',
  // Runs a command in a task: a write, whatever the command does.
  'POST /v1/tasks/:id/exec': 'namespace-write',
  // Hosts and agents
  'GET /v1/hosts': 'cluster-read',
  'GET /v1/pools': 'cluster-read',
  'POST /v1/hosts/join': 'join',
  'POST /v1/hosts': 'host-register',
  'POST /v1/hosts/:id/heartbeat': 'host-self',
  'GET /v1/hosts/:id/assignments': 'host-self',
  // Where the scheduler keeps volumes on that host (job ids and slots): the host itself, admin.
  'GET /v1/hosts/:id/volumes': 'host-self',
  // Commands to the host's agent (remediation's restart-runtime) and its answers.
  'GET /v1/hosts/:id/commands': 'host-self',
  'POST /v1/hosts/:id/commands/:cmd/result': 'host-self',
  // Renewal: the host itself, by its current certificate (not even an admin renews for a host).
  'POST /v1/hosts/:id/certificate': 'host-own',
  'PUT /v1/tasks/:id/status': 'host-tasks',
  // Host history: every process of the host, whatever its namespace, with its command line (which
  // may carry another namespace's secrets): only for tokens that see every namespace.
  'GET /v1/hosts/:id/history': 'cluster-wide-read',
  // The lines its tasks wrote (the handler keeps only tasks assigned to that host).
  'POST /v1/hosts/:id/tasklogs': 'host-self',
  'POST /v1/hosts/:id/cordon': 'admin',
  'POST /v1/hosts/:id/uncordon': 'admin',
  'POST /v1/hosts/:id/drain': 'admin',
  'POST /v1/maintenance': 'admin',
  'POST /v1/maintenance/end': 'admin',
  // Remediation rules act on every host and job: read by cluster readers, written by admins.
  'GET /v1/remediation': 'cluster-read',
  'PUT /v1/remediation': 'admin',
  'GET /v1/remediation/log': 'cluster-read',
  'GET /v1/watch': 'watch',
  // Mesh: discovery is namespaced (a viewer of a namespace sees its services only); the dependency
  // file is one for the cluster: read by any reader, written by admins.
  'GET /v1/services': 'namespace-read',
  'GET /v1/services/:name/endpoints': 'namespace-read',
  'GET /v1/mesh': 'cluster-read',
  'GET /v1/mesh/versions': 'cluster-read',
  'GET /v1/mesh/stats': 'cluster-read',
  'PUT /v1/mesh': 'admin',
  'POST /v1/mesh/rollback': 'admin',
  // A host's proxy configuration (the dependency file and the endpoints it names): that host, admin.
  'GET /v1/hosts/:id/mesh': 'host-self',
  // Host-gw: the other live hosts' task ranges and addresses (routed via them): that host, admin.
  'GET /v1/hosts/:id/peers': 'host-self',
  // Images (shared by all namespaces)
  'GET /v1/images': 'cluster-read',
  'POST /v1/images/import': 'image-write',
  'POST /v1/images/create': 'image-write',
  // Images are shared by every namespace: removing one is the admin's call.
  'DELETE /v1/images/:ref': 'admin',
  'GET /v1/images/manifests/:ref': 'image-fetch',
  'GET /v1/images/blobs/:digest': 'image-fetch',
  // Log tables: rows carry a namespace; reads and writes are the request's namespace's rows.
  'GET /v1/tables': 'namespace-read',
  'GET /v1/tables/:table/query': 'namespace-read',
  'POST /v1/tables/:table/rows': 'namespace-write',
  'PUT /v1/tables/:table/settings': 'admin',
  // Configs (namespaced: ?namespace=NS; the path is one URL-encoded segment, app%2Fsettings.json)
  'GET /v1/configs': 'namespace-read',
  'PUT /v1/configs/:path': 'namespace-write',
  'GET /v1/configs/:path': 'config-fetch',
  'GET /v1/configs/:path/content': 'config-fetch',
  'GET /v1/configs/:path/versions': 'namespace-read',
  'POST /v1/configs/:path/revert': 'namespace-write',
  'GET /v1/configs/:path/status': 'namespace-read',
  // A host reports the version it has of a config (only as itself).
  'PUT /v1/configs/:path/hosts/:id': 'host-self',
  // Config distribution (docs/config.md): a host's own tree stream, heartbeats, and, as a tree's
  // root, the shard's metadata (every namespace's: hosts may read any namespace's configs).
  'GET /v1/configdist/shards/:shard/hosts/:id/tree': 'host-self',
  'POST /v1/configdist/shards/:shard/hosts/:id/heartbeat': 'host-self',
  'GET /v1/configdist/shards/:shard/hosts/:id/meta': 'host-self',
  // A host's reports of the versions it has, several configs at once (only as itself).
  'POST /v1/configdist/hosts/:id/reports': 'host-self',
  // Identity, namespaces, audit
  'POST /v1/tokens': 'admin',
  'GET /v1/tokens': 'admin',
  'DELETE /v1/tokens/:name': 'admin',
  'POST /v1/namespaces': 'admin',
  'GET /v1/namespaces': 'cluster-read',
  'PUT /v1/namespaces/:name/quota': 'admin',
  'GET /v1/audit': 'admin',
  // Time series. Ingest: an agent ships its host's batches (the handler checks the body's host).
  'POST /v1/metrics/ingest': 'host-ingest',
  // A batch forwarded by the replica that received it: with the agent's own credentials, or the
  // replica's own (agents that authenticated by certificate).
  'POST /v1/metrics/copies/:origin': 'metrics-copy',
  // Queries see the request's namespace's series (label namespace=NS); `*` (a token covering every
  // namespace) also sees host-level series, which carry no namespace.
  'GET /v1/metrics/query': 'namespace-read',
  // Federation for Prometheus: the latest sample of matching series, by the same namespace rule.
  'GET /federate': 'namespace-read',
  // Dashboards (namespaced like jobs; listing with `*` shows every namespace's boards).
  'GET /v1/boards': 'namespace-read',
  'GET /v1/boards/:name': 'namespace-read',
  'PUT /v1/boards/:name': 'namespace-write',
  'DELETE /v1/boards/:name': 'namespace-write',
  // The control plane's own counters (Prometheus scrapes with a viewer token).
  'GET /metrics': 'cluster-read',
};

export function routeKey(method: string, pattern: string): string {
  return `${method} ${pattern}`;
}

export function permissionFor(method: string, pattern: string): Permission | undefined {
  return ROUTE_PERMISSIONS[routeKey(method, pattern)];
}

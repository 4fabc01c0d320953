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
  'POST /v1/hosts/join': 'join',
  'POST /v1/hosts': 'host-register',
  'POST /v1/hosts/:id/heartbeat': 'host-self',
  'GET /v1/hosts/:id/assignments': 'host-self',
  // Renewal: the host itself, by its current certificate (not even an admin renews for a host).
  'POST /v1/hosts/:id/certificate': 'host-own',
  'PUT /v1/tasks/:id/status': 'host-tasks',
  'POST /v1/hosts/:id/cordon': 'admin',
  'POST /v1/hosts/:id/uncordon': 'admin',
  'POST /v1/hosts/:id/drain': 'admin',
  'POST /v1/maintenance': 'admin',
  'POST /v1/maintenance/end': 'admin',
  'GET /v1/watch': 'watch',
  // Images (shared by all namespaces)
  'GET /v1/images': 'cluster-read',
  'POST /v1/images/import': 'image-write',
  'POST /v1/images/create': 'image-write',
  'GET /v1/images/manifests/:ref': 'image-fetch',
  'GET /v1/images/blobs/:digest': 'image-fetch',
  // Identity, namespaces, audit
  'POST /v1/tokens': 'admin',
  'GET /v1/tokens': 'admin',
  'DELETE /v1/tokens/:name': 'admin',
  'POST /v1/namespaces': 'admin',
  'GET /v1/namespaces': 'cluster-read',
  'PUT /v1/namespaces/:name/quota': 'admin',
  'GET /v1/audit': 'admin',
};

export function routeKey(method: string, pattern: string): string {
  return `${method} ${pattern}`;
}

export function permissionFor(method: string, pattern: string): Permission | undefined {
  return ROUTE_PERMISSIONS[routeKey(method, pattern)];
}

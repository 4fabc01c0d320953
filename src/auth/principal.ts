/**
 * Who is asking. Authentication turns a request's credentials into one of these; authorization
 * decides from it alone (plus the route and its namespace), with no store read.
 */

export type Role = 'viewer' | 'deployer' | 'admin' | 'agent';
export const ROLES: readonly Role[] = ['viewer', 'deployer', 'admin', 'agent'];

export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** The namespaces a token covers: a list, or every namespace ('*'). */
export type NamespaceGrant = readonly string[] | '*';

/** Names of the server replicas' own credentials (made by the replicas, never through createToken). */
export const REPLICA_TOKEN_PREFIX = 'replica.';

export interface TokenPrincipal {
  kind: 'token';
  name: string;
  role: Role;
  namespaces: NamespaceGrant;
}

/**
 * A host (an agent): may register and heartbeat as its own host id only, read its own assignments,
 * write the status of tasks assigned to it, and fetch images (Kubernetes' NodeRestriction). `via`
 * says what proved it: a host credential (a token bound to the host) or, later, a client
 * certificate issued by the cluster CA.
 */
export interface HostPrincipal {
  kind: 'host';
  hostId: string;
  via: 'credential' | 'certificate';
  /** The credential's token name, when via is 'credential'. */
  name?: string;
}

export interface AnonymousPrincipal {
  kind: 'anonymous';
}

export type Principal = TokenPrincipal | HostPrincipal | AnonymousPrincipal;

export const ANONYMOUS: AnonymousPrincipal = { kind: 'anonymous' };

/** Every permission: what a server with authentication turned off acts as (benchmarks only). */
export const UNRESTRICTED: TokenPrincipal = {
  kind: 'token',
  name: 'unrestricted',
  role: 'admin',
  namespaces: '*',
};

/** How the principal shows in the audit log and in messages. */
export function principalName(p: Principal): string {
  switch (p.kind) {
    case 'token':
      return p.name;
    case 'host':
      return `host:${p.hostId}`;
    case 'anonymous':
      return 'anonymous';
  }
}

export function coversNamespace(grant: NamespaceGrant, ns: string): boolean {
  return grant === '*' || grant.includes(ns);
}

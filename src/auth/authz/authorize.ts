/**
 * The authorization decision: principal x permission x (namespace, path parameters) -> allowed or
 * a DabbaError (401 without a principal, 403 saying what was missing). A refusal for a namespace
 * comes before any lookup in it, so it reads the same whether a name exists there or not.
 */
import { DabbaError } from '../../errors/index.ts';
import { ALL_NAMESPACES, DEFAULT_NAMESPACE, isNamespaceName } from '../../model/index.ts';
import type { Principal, Role, TokenPrincipal } from '../principal.ts';
import { coversNamespace, REPLICA_TOKEN_PREFIX } from '../principal.ts';
import type { AuthFailure } from '../authn/authenticate.ts';
import { PERMISSION_HELP, type Permission } from './permissions.ts';

export interface AccessRequest {
  /** `?namespace=` as given (null: absent, meaning `default`). */
  namespace: string | null;
  params: Readonly<Record<string, string>>;
  /** `?prefix=` of a watch. */
  prefix?: string | null;
}

/** What an allowed request may see: its namespace (`*`: all of them). */
export interface Access {
  namespace: string;
}

export function unauthenticated(failure: AuthFailure): DabbaError {
  return failure === 'missing'
    ? new DabbaError(
        'DABBA_E_UNAUTHENTICATED',
        'this request needs a token: pass --token, set DABBA_TOKEN, or run `dabba login`',
        { details: { reason: 'missing' } },
      )
    : new DabbaError('DABBA_E_UNAUTHENTICATED', 'the token is invalid, revoked or expired', {
        details: { reason: 'invalid' },
      });
}

function forbidden(message: string, details: Record<string, unknown>): DabbaError {
  return new DabbaError('DABBA_E_FORBIDDEN', message, { details });
}

const READERS: readonly Role[] = ['viewer', 'deployer', 'admin'];
const WRITERS: readonly Role[] = ['deployer', 'admin'];

function namespaceOf(req: AccessRequest): string {
  const ns = req.namespace ?? DEFAULT_NAMESPACE;
  if (ns !== ALL_NAMESPACES && !isNamespaceName(ns)) {
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `"${ns}" is not a valid namespace name (a DNS label, or * for all)`,
      {
        details: { namespace: ns },
      },
    );
  }
  return ns;
}

function needRole(p: Principal, roles: readonly Role[], permission: Permission): TokenPrincipal {
  if (p.kind === 'token' && roles.includes(p.role)) return p;
  const who = p.kind === 'token' ? `role ${p.role}` : p.kind === 'host' ? `host ${p.hostId}` : 'anonymous';
  throw forbidden(`${who} may not do this: it needs ${PERMISSION_HELP[permission]}`, {
    need: PERMISSION_HELP[permission],
    roles: [...roles],
    have: p.kind === 'token' ? p.role : p.kind,
  });
}

function needNamespace(p: TokenPrincipal, ns: string, write: boolean): void {
  if (ns === ALL_NAMESPACES) {
    if (write) throw new DabbaError('DABBA_E_BAD_REQUEST', 'a write names one namespace (not *)');
    if (p.namespaces !== '*') {
      throw forbidden(
        `token "${p.name}" does not cover every namespace (it covers ${p.namespaces.join(', ')})`,
        {
          namespace: ns,
          covered: [...p.namespaces],
        },
      );
    }
    return;
  }
  if (!coversNamespace(p.namespaces, ns)) {
    throw forbidden(`token "${p.name}" does not cover namespace "${ns}"`, {
      namespace: ns,
      covered: p.namespaces === '*' ? '*' : [...p.namespaces],
    });
  }
}

function isAdmin(p: Principal): boolean {
  return p.kind === 'token' && p.role === 'admin';
}

function needSelf(p: Principal, hostId: string | undefined, permission: Permission): void {
  if (isAdmin(p)) return;
  if (p.kind !== 'host') needRole(p, ['admin'], permission);
  else if (hostId !== undefined && hostId !== p.hostId) {
    throw forbidden(`host ${p.hostId} may act only as itself, not as host ${hostId}`, {
      need: PERMISSION_HELP[permission],
      host: p.hostId,
    });
  }
}

/** Decides; throws the 401/403 answer when the request may not go on. */
export function authorize(p: Principal, permission: Permission, req: AccessRequest): Access {
  if (permission === 'open') return { namespace: DEFAULT_NAMESPACE };
  if (p.kind === 'anonymous') throw unauthenticated('missing');
  switch (permission) {
    case 'authenticated':
      return { namespace: DEFAULT_NAMESPACE };
    case 'cluster-read':
      needRole(p, READERS, permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'cluster-wide-read':
      needNamespace(needRole(p, READERS, permission), ALL_NAMESPACES, false);
      return { namespace: ALL_NAMESPACES };
    case 'namespace-read':
    case 'namespace-write': {
      const write = permission === 'namespace-write';
      const t = needRole(p, write ? WRITERS : READERS, permission);
      const ns = namespaceOf(req);
      needNamespace(t, ns, write);
      return { namespace: ns };
    }
    case 'image-write':
      needRole(p, WRITERS, permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'image-fetch':
      if (p.kind !== 'host') needRole(p, READERS, permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'config-fetch': {
      const ns = namespaceOf(req);
      if (p.kind === 'host') return { namespace: ns };
      needNamespace(needRole(p, READERS, permission), ns, false);
      return { namespace: ns };
    }
    case 'admin':
      needRole(p, ['admin'], permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'join':
      needRole(p, ['agent', 'admin'], permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'host-register':
    case 'host-tasks':
    case 'host-ingest':
      needSelf(p, undefined, permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'metrics-copy':
      if (!isReplicaCredential(p)) needSelf(p, undefined, permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'host-self':
      needSelf(p, req.params['id'] ?? '', permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'host-own':
      if (p.kind !== 'host') {
        throw forbidden(`only a host may do this: it needs ${PERMISSION_HELP[permission]}`, {
          need: PERMISSION_HELP[permission],
          have: p.role,
        });
      }
      needSelf(p, req.params['id'] ?? '', permission);
      return { namespace: DEFAULT_NAMESPACE };
    case 'watch': {
      if (isAdmin(p)) return { namespace: DEFAULT_NAMESPACE };
      const own = [
        `/assign/${p.kind === 'host' ? p.hostId : ''}/`,
        `/hostcmds/${p.kind === 'host' ? p.hostId : ''}/`,
      ];
      if (p.kind === 'host' && own.some((o) => (req.prefix ?? '').startsWith(o))) {
        return { namespace: DEFAULT_NAMESPACE };
      }
      if (p.kind === 'host') {
        throw forbidden(
          `host ${p.hostId} may watch only its own assignments and commands (${own.join(', ')})`,
          {
            need: PERMISSION_HELP[permission],
          },
        );
      }
      needRole(p, ['admin'], permission);
      return { namespace: DEFAULT_NAMESPACE };
    }
  }
}

/**
 * A server replica's own credential (PeerCredential: a viewer token named `replica.ID`, made by the
 * replica in the store; no one can create a token of that name through the API).
 */
export function isReplicaCredential(p: Principal): boolean {
  return p.kind === 'token' && p.role === 'viewer' && p.name.startsWith(REPLICA_TOKEN_PREFIX);
}

/** The host a host principal must be, for handlers that check a body's host id; undefined for others. */
export function boundHost(p: Principal): string | undefined {
  return p.kind === 'host' ? p.hostId : undefined;
}

/** Throws 403 when a host principal names another host than itself (in a body). */
export function checkBoundHost(p: Principal, hostId: string): void {
  const bound = boundHost(p);
  if (bound !== undefined && bound !== hostId) {
    throw forbidden(`host ${bound} may act only as itself, not as host ${hostId}`, { host: bound });
  }
}

/** Whether the principal may read namespace `ns` (for filtering lists). */
export function canRead(p: Principal, ns: string): boolean {
  return p.kind === 'token' && READERS.includes(p.role) && coversNamespace(p.namespaces, ns);
}

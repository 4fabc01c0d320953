/**
 * Identity and tenancy endpoints: tokens (admin), agents joining, namespaces and quotas, the audit
 * log, and `whoami`. Their permissions are in src/auth/authz/route-table.ts like every route's.
 */
import { DabbaError, ValidationError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import { parseDuration } from '../../lib/index.ts';
import type { NamespaceView } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import {
  canRead,
  createNamespace,
  createToken,
  issueAndRecordHostCertificate,
  issueHostCredential,
  listNamespaces,
  listTokens,
  namespaceView,
  principalName,
  revokeToken,
  setQuota,
  tokenInfo,
  type AuditLog,
  type NamespaceGrant,
  type TokenCache,
} from '../../auth/index.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { parseBody } from '../state/parse.ts';
import type { ServerPki } from '../pki.ts';
import { hostCertificateView } from './certificates.ts';
import { createTokenSchema, joinSchema, namespaceSchema, quotaSchema } from '../state/wire-schemas.ts';

export interface AuthRoutesOptions {
  store: Store;
  clock: Clock;
  /** Absent when authentication is off: token changes then only reach the store. */
  tokens?: TokenCache;
  audit?: AuditLog;
  /** The cluster CA: a join with a CSR gets a host certificate. */
  pki?: ServerPki;
}

/** The peer's address as a certificate names it (an IPv4-mapped IPv6 address as IPv4). */
function peerAddress(remote: string | undefined): string {
  if (remote === undefined)
    throw new DabbaError('DABBA_E_BAD_REQUEST', 'the join request has no peer address');
  return remote.startsWith('::ffff:') ? remote.slice(7) : remote;
}

/** `30m`, `12h`, `7d`: a token's time to live. */
export function parseTtl(text: string): number {
  const days = /^(\d+)d$/.exec(text.trim());
  if (days) return Number(days[1]) * 86_400_000;
  const d = parseDuration(text);
  if (!d.ok || d.ms <= 0) {
    throw new ValidationError(`ttl: ${d.ok ? 'must be above 0' : d.error} (for example 12h or 30d)`, [
      { path: 'ttl', message: d.ok ? 'must be above 0' : d.error },
    ]);
  }
  return d.ms;
}

function grantOf(role: string, namespaces: readonly string[] | '*' | undefined): NamespaceGrant {
  if (role === 'admin') return '*';
  if (role === 'agent') return [];
  if (namespaces === undefined) return ['default'];
  if (namespaces === '*' || namespaces.includes('*')) return '*';
  return [...new Set(namespaces)].sort();
}

export function authRoutes(router: Router, o: AuthRoutesOptions): void {
  const { store, clock } = o;

  router.on('GET', '/v1/whoami', ({ principal }) => Promise.resolve(principal));

  router.on(
    'POST',
    '/v1/tokens',
    async ({ req, principal }) => {
      const body = parseBody(createTokenSchema, await readJsonBody(req), 'token');
      const namespaces = grantOf(body.role, body.namespaces);
      const now = clock.now();
      const { token, record } = await createToken(
        store,
        {
          name: body.name,
          role: body.role,
          namespaces,
          createdBy: principalName(principal),
          ...(body.ttl === undefined ? {} : { expiresAt: now + parseTtl(body.ttl) }),
        },
        now,
      );
      o.tokens?.remember(record);
      return { name: record.name, token, role: record.role, namespaces, expires: record.expiresAt ?? null };
    },
    201,
  );

  router.on('GET', '/v1/tokens', async () => (await listTokens(store)).map(tokenInfo));

  router.on('DELETE', '/v1/tokens/:name', async ({ params }) => {
    const name = params['name'] ?? '';
    await revokeToken(store, name);
    // This replica refuses it from now on; the others when their watch brings the delete.
    o.tokens?.forget(name);
    return { name, revoked: true };
  });

  router.on('POST', '/v1/hosts/join', async ({ req, principal }) => {
    const body = parseBody(joinSchema, await readJsonBody(req), 'join request');
    if (body.csr !== undefined && o.pki === undefined) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'this server has no cluster CA: join without a csr');
    }
    const credential = await issueHostCredential(store, body.hostId, principalName(principal), clock.now());
    if (body.csr === undefined || o.pki === undefined) return { hostId: body.hostId, credential };
    // The certificate's address is the one the server will reach the agent at (logs, exec): the
    // one the join names, else the one the request came from.
    const address = body.address ?? peerAddress(req.socket.remoteAddress);
    const issued = await issueAndRecordHostCertificate(store, o.pki.ca, {
      hostId: body.hostId,
      address,
      csrPem: body.csr,
    });
    return { hostId: body.hostId, credential, hostCertificate: hostCertificateView(issued) };
  });

  router.on(
    'POST',
    '/v1/namespaces',
    async ({ req, principal }) => {
      const body = parseBody(namespaceSchema, await readJsonBody(req), 'namespace');
      const quota = Object.fromEntries(
        Object.entries(body.quota ?? {}).filter(([, v]) => v !== null && v !== undefined),
      );
      const record = await createNamespace(store, body.name, quota, principalName(principal), clock.now());
      return namespaceView(store, record.name, record);
    },
    201,
  );

  router.on('GET', '/v1/namespaces', async ({ principal }) => {
    const list = (await listNamespaces(store)).filter((n) => canRead(principal, n.name));
    const views: NamespaceView[] = [];
    for (const n of list) views.push(await namespaceView(store, n.name, n.createdAt === 0 ? undefined : n));
    return views;
  });

  router.on('PUT', '/v1/namespaces/:name/quota', async ({ req, params, principal }) => {
    const name = params['name'] ?? '';
    const body = parseBody(quotaSchema, await readJsonBody(req), 'quota');
    const record = await setQuota(store, name, body, principalName(principal), clock.now());
    return namespaceView(store, name, record);
  });

  router.on('GET', '/v1/audit', async ({ query }) => {
    if (!o.audit)
      throw new DabbaError('DABBA_E_UNAVAILABLE', 'authentication is off on this server: no audit log');
    const sinceText = query.get('since');
    const since = sinceText === null ? 0 : Number(sinceText);
    if (!Number.isFinite(since) || since < 0) {
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'since must be a time in epoch milliseconds', {
        details: { since: sinceText },
      });
    }
    const limit = Number(query.get('limit') ?? 1000);
    return o.audit.list(since, Number.isInteger(limit) && limit > 0 ? Math.min(limit, 10_000) : 1000);
  });
}

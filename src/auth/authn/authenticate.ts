/**
 * Authentication: a list of authenticators, each looking at the request for the kind of credential
 * it knows. The first that finds one decides: a principal, or a refusal. None finding any: the
 * request is anonymous (which only open routes accept).
 *
 * The bearer-token authenticator is here; a client-certificate authenticator (TLS) turns a verified
 * certificate into a host principal the same way and goes first in the list.
 */
import type { IncomingMessage } from 'node:http';
import type { Clock } from '../../lib/index.ts';
import type { Principal } from '../principal.ts';
import { ANONYMOUS } from '../principal.ts';
import { bearerOf, hashToken } from '../tokens/token-format.ts';
import type { TokenCache } from '../tokens/token-cache.ts';
import type { TokenRecord } from '../tokens/token-record.ts';

/** Why credentials were refused. `missing` is only for "no credentials at all". */
export type AuthFailure = 'missing' | 'invalid';

export type AuthOutcome = { ok: true; principal: Principal } | { ok: false; failure: AuthFailure };

/**
 * Looks at a request: undefined when it carries no credential of this kind (the next authenticator
 * is asked), else the outcome. May be async (a cache still loading).
 */
export type Authenticator = (req: IncomingMessage) => AuthOutcome | Promise<AuthOutcome> | undefined;

export async function authenticate(
  authenticators: readonly Authenticator[],
  req: IncomingMessage,
): Promise<AuthOutcome> {
  for (const a of authenticators) {
    const r = a(req);
    if (r !== undefined) return r;
  }
  return { ok: true, principal: ANONYMOUS };
}

export function principalOfRecord(r: TokenRecord): Principal {
  if (r.role === 'host') {
    return r.hostId === undefined
      ? ANONYMOUS
      : { kind: 'host', hostId: r.hostId, via: 'credential', name: r.name };
  }
  return { kind: 'token', name: r.name, role: r.role, namespaces: r.namespaces };
}

/** `Authorization: Bearer dabba_...`: looked up by hash in the token cache; expiry against the clock. */
export function bearerAuthenticator(cache: TokenCache, clock: Clock): Authenticator {
  const check = (token: string): AuthOutcome => {
    const r = cache.byHash(hashToken(token));
    if (r === undefined) return { ok: false, failure: 'invalid' };
    if (r.expiresAt !== undefined && clock.now() >= r.expiresAt) return { ok: false, failure: 'invalid' };
    return { ok: true, principal: principalOfRecord(r) };
  };
  let loaded = false;
  void cache.loaded.then(() => (loaded = true));
  return (req) => {
    const token = bearerOf(req.headers.authorization);
    if (token === undefined) return undefined;
    if (token === '') return { ok: false, failure: 'invalid' };
    return loaded ? check(token) : cache.loaded.then(() => check(token));
  };
}

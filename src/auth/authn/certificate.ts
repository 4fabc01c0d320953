/**
 * The client-certificate authenticator: a request over TLS with a host certificate that verified
 * against the cluster CA at the handshake is that host (`via: 'certificate'`). It goes first in the
 * list, so an agent's certificate decides even when the request also carries a bearer token.
 */
import { hostIdentityFromRequest } from '../pki/request-identity.ts';
import type { Authenticator } from './authenticate.ts';

export function certificateAuthenticator(): Authenticator {
  return (req) => {
    const who = hostIdentityFromRequest(req);
    return who === undefined
      ? undefined
      : { ok: true, principal: { kind: 'host', hostId: who.hostId, via: 'certificate' } };
  };
}

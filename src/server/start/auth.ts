/** The server's authentication and authorization, unless turned off (bench/api-auth.ts). */
import type { Clock, Logger } from '../../lib/index.ts';
import type { Store } from '../../store/index.ts';
import {
  AuditLog,
  TokenCache,
  bearerAuthenticator,
  bootstrapAdminToken,
  certificateAuthenticator,
  type Authenticator,
} from '../../auth/index.ts';
import type { ApiAuth } from '../api.ts';

/**
 * The API's authenticators and audit log, and the bare admin token when this start created it in
 * the store (a fresh cluster). Both undefined with `auth: false`.
 */
export async function openAuth(
  o: { auth?: false | { adminToken?: string; authenticators?: readonly Authenticator[] } },
  store: Store,
  clock: Clock,
  logger: Logger,
): Promise<{ auth: ApiAuth | undefined; adminToken: string | undefined }> {
  let auth: ApiAuth | undefined;
  let adminToken: string | undefined;
  if (o.auth !== false) {
    const tokens = new TokenCache(store, logger.child({ part: 'tokens' }));
    auth = {
      tokens,
      audit: new AuditLog(store, clock, logger.child({ part: 'audit' })),
      // A verified host certificate first: an agent beyond loopback is its certificate.
      authenticators: [
        certificateAuthenticator(),
        ...(o.auth?.authenticators ?? []),
        bearerAuthenticator(tokens, clock),
      ],
    };
    adminToken = await bootstrapAdminToken(store, clock.now(), o.auth?.adminToken);
  }
  return { auth, adminToken };
}

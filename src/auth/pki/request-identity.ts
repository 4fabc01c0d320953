/** Who is at the other end of a request, by its TLS client certificate. */
import type { IncomingMessage } from 'node:http';
import { TLSSocket } from 'node:tls';
import { certificateInfo } from '../../x509/index.ts';
import type { HostIdentity } from './verify.ts';
import { hostIdentityOf } from './verify.ts';

// One answer per connection: a keep-alive connection's peer does not change.
const seen = new WeakMap<TLSSocket, HostIdentity | null>();

/**
 * The host identity of a request: present only when the request came over TLS with a client
 * certificate that verified against the cluster CA at the handshake (the API server trusts only
 * that CA: `socket.authorized`) and that is a host certificate. Plain HTTP, no certificate, a
 * certificate of another CA, a self-signed or expired one, or a server certificate: undefined.
 */
export function hostIdentityFromRequest(req: IncomingMessage): HostIdentity | undefined {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return undefined;
  const known = seen.get(socket);
  if (known !== undefined) return known ?? undefined;
  const peer = socket.getPeerX509Certificate();
  const identity = peer === undefined ? undefined : hostIdentityOf(certificateInfo(peer));
  seen.set(socket, identity ?? null);
  return identity;
}

/** Whether the peer presented a certificate of the cluster CA with the given subject organisation. */
export function peerHasOrg(req: IncomingMessage, org: string): boolean {
  const socket = req.socket;
  if (!(socket instanceof TLSSocket) || !socket.authorized) return false;
  const peer = socket.getPeerX509Certificate();
  return peer !== undefined && certificateInfo(peer).subject['O'] === org;
}

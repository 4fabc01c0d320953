/**
 * TLS for the client: the CA a server is verified against (the cluster CA, from `--ca`/`DABBA_CA` or
 * `dabba login`), and an optional client certificate (agents present their host certificate). There
 * is no way to skip verification.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { Agent } from 'undici';
import { DabbaError } from '../errors/index.ts';

export interface ClientTls {
  /** PEM of the CA to trust for https:// servers (default: the system's CAs). */
  ca?: string;
  /** PEM of a client certificate and its key (a host certificate). */
  cert?: string;
  key?: string;
}

/** An undici dispatcher with these TLS settings, or undefined when there are none. */
export function tlsDispatcher(tls: ClientTls): Agent | undefined {
  if (tls.ca === undefined && tls.cert === undefined) return undefined;
  if ((tls.cert === undefined) !== (tls.key === undefined))
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      'a client certificate needs its key, and a key its certificate',
    );
  return new Agent({
    connect: {
      ...(tls.ca === undefined ? {} : { ca: tls.ca }),
      ...(tls.cert === undefined ? {} : { cert: tls.cert }),
      ...(tls.key === undefined ? {} : { key: tls.key }),
    },
  });
}

/**
 * fetch options with an undici dispatcher. The undici package is pinned to the version Node bundles
 * (its fetch takes the dispatcher at run time); its types differ from @types/node's copy, hence the cast.
 */
export function withDispatcher(init: RequestInit, dispatcher: Agent | undefined): RequestInit {
  return dispatcher === undefined ? init : ({ ...init, dispatcher } as unknown as RequestInit);
}

export { certificateErrorCode, untrustedServerError } from './tls-errors.ts';

/** `sha256:` and the hex SHA-256 of a certificate's DER public key (what a CA pin names). */
export function certificatePin(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

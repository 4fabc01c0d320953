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

/** OpenSSL's codes for a peer certificate that does not verify (node puts them on err.code). */
const CERT_ERRORS = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
]);

/** The certificate error code inside a fetch failure (its cause chain), if that is what failed. */
export function certificateErrorCode(e: unknown): string | undefined {
  for (let c: unknown = e, depth = 0; c !== undefined && c !== null && depth < 5; depth++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && CERT_ERRORS.has(code)) return code;
    c = (c as { cause?: unknown }).cause;
  }
  return undefined;
}

/** What the CLI says when a server's certificate does not verify: what failed and how to fix it. */
export function untrustedServerError(
  addr: string,
  code: string,
  haveCa: boolean,
  cause: unknown,
): DabbaError {
  const fix = haveCa
    ? 'the CA given (--ca / DABBA_CA / dabba login --ca) is not the one this server uses: pass its DATA_DIR/ca.crt'
    : 'give the cluster CA with --ca FILE or DABBA_CA=FILE, or store it once with `dabba login --ca FILE` (the server writes it to DATA_DIR/ca.crt)';
  const what =
    code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? 'is not valid for this address (use the address the server was started with, or add it with --tls-name)'
      : code === 'CERT_HAS_EXPIRED'
        ? 'has expired (restart the server to get a fresh one)'
        : `is not trusted (${code})`;
  return new DabbaError('DABBA_E_TLS', `the TLS certificate of ${addr} ${what}: ${fix}`, {
    cause,
    details: { addr, tlsError: code },
  });
}

/** `sha256:` and the hex SHA-256 of a certificate's DER public key (what a CA pin names). */
export function certificatePin(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

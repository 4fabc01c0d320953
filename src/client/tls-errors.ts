/**
 * What a failed TLS verification means, in words (no node-only code: the browser build of the client
 * shares it, see tls.browser.ts).
 */
import { DabbaError } from '../errors/index.ts';

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

/**
 * TLS for the client: the CA a server is verified against (the cluster CA, from `--ca`/`DABBA_CA` or
 * `dabba login`), and an optional client certificate (agents present their host certificate). There
 * is no way to skip verification.
 */
import { createHash, X509Certificate } from 'node:crypto';
import type { Agent } from 'undici';
import { DabbaError } from '../errors/index.ts';
import { undici } from './undici.ts';

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
  return new (undici().Agent)({
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

/** The answer of `getStream`: status, headers and a body read as it arrives. */
export interface StreamAnswer {
  status: number;
  header(name: string): string | undefined;
  body: AsyncIterable<Uint8Array>;
  /** The whole body as text (an error's JSON). */
  text(): Promise<string>;
  /** Drops the body (nothing of it will be read). */
  discard(): Promise<void>;
}

/**
 * A GET whose body is a Node stream (undici's `request`) instead of fetch's web stream: for large
 * bodies (config contents, 100 MB and more) fetch's byte stream cost a promise, a wrapper and a
 * garbage-collected chunk per piece, a good part of a host's CPU per content.
 */
export async function getStream(
  url: string,
  o: { headers: Record<string, string>; signal?: AbortSignal },
  dispatcher: Agent | undefined,
): Promise<StreamAnswer> {
  const r = await undici().request(url, {
    method: 'GET',
    headers: o.headers,
    ...(o.signal === undefined ? {} : { signal: o.signal }),
    ...(dispatcher === undefined ? {} : { dispatcher }),
  });
  return {
    status: r.statusCode,
    header: (name) => {
      const v = r.headers[name.toLowerCase()];
      return Array.isArray(v) ? v[0] : v;
    },
    body: r.body,
    text: () => r.body.text(),
    discard: () => r.body.dump(),
  };
}

/** `sha256:` and the hex SHA-256 of a certificate's DER public key (what a CA pin names). */
export function certificatePin(pem: string): string {
  const der = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(der).digest('hex')}`;
}

/**
 * The config API (`dabba config`, docs/config.md): paths travel as one URL-encoded segment, content
 * as raw bytes. Built by DabbaClient.configs() over its failover transport.
 */
import { DabbaError } from '../errors/index.ts';
import type { ConfigStatusView, ConfigVersion, PutConfigResult } from '../model/index.ts';
import { errorFromBody, parseResponse } from './responses.ts';
import type { StreamAnswer } from './tls.ts';

/** What DabbaClient lends: a request (namespaced as the client is) and its raw response. */
export type ConfigTransport = (
  method: string,
  path: string,
  opts: {
    body?: unknown;
    raw?: { stream: AsyncIterable<Uint8Array> | Uint8Array; contentType: string };
    headers?: Record<string, string>;
    signal?: AbortSignal;
    stream?: boolean;
  },
) => Promise<Response>;

/** A GET whose body is read as it arrives (DabbaClient's requestStream, namespaced). */
export type ConfigStreamTransport = (
  path: string,
  opts: { headers?: Record<string, string>; signal?: AbortSignal },
) => Promise<StreamAnswer>;

export interface ConfigContent {
  version: number;
  digest: string;
  bytes: Buffer;
}

export interface ConfigApi {
  put(path: string, content: Uint8Array, message: string): Promise<PutConfigResult>;
  get(path: string, version?: number): Promise<ConfigVersion>;
  content(path: string, version?: number): Promise<ConfigContent>;
  /** The content from `offset` on (resumable), with the version and digest it belongs to. */
  contentStream(
    path: string,
    opts: { version?: number; offset?: number; signal?: AbortSignal },
  ): Promise<{ version: number; digest: string; size: number; body: AsyncIterable<Uint8Array> }>;
  list(prefix?: string): Promise<ConfigVersion[]>;
  history(path: string): Promise<ConfigVersion[]>;
  revert(path: string, to: number, message?: string): Promise<PutConfigResult>;
  status(path: string): Promise<ConfigStatusView>;
  /** A host reports the version of a config it has (namespace given explicitly). */
  reportHost(hostId: string, namespace: string, path: string, version: number, digest: string): Promise<void>;
}

const seg = (path: string): string => `/v1/configs/${encodeURIComponent(path)}`;
const withVersion = (url: string, version?: number): string =>
  version === undefined ? url : `${url}?version=${version}`;

export function configApi(send: ConfigTransport, sendStream: ConfigStreamTransport): ConfigApi {
  const json = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    (await parseResponse(await send(method, path, body === undefined ? {} : { body }))) as T;
  const stream = async (
    path: string,
    opts: { version?: number; offset?: number; signal?: AbortSignal },
  ): Promise<{ version: number; digest: string; size: number; body: AsyncIterable<Uint8Array> }> => {
    const offset = opts.offset ?? 0;
    const res = await sendStream(withVersion(`${seg(path)}/content`, opts.version), {
      ...(offset > 0 ? { headers: { range: `bytes=${offset}-` } } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.status < 200 || res.status > 299) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // not JSON: the text is the message
      }
      throw errorFromBody(body, res.status);
    }
    if (offset > 0 && res.status !== 206) {
      await res.discard();
      throw new DabbaError('DABBA_E_INTERNAL', `the server ignored the range request for config ${path}`);
    }
    return {
      version: Number(res.header('x-dabba-config-version') ?? 0),
      digest: res.header('x-dabba-config-digest') ?? '',
      size: offset + Number(res.header('content-length') ?? 0),
      body: res.body,
    };
  };
  return {
    put: async (path, content, message) => {
      const res = await send('PUT', `${seg(path)}?message=${encodeURIComponent(message)}`, {
        raw: {
          // The bytes as they are (no node:stream: the client also runs in the browser).
          stream: content,
          contentType: 'application/octet-stream',
        },
      });
      return (await parseResponse(res)) as PutConfigResult;
    },
    get: (path, version) => json('GET', withVersion(seg(path), version)),
    content: async (path, version) => {
      const s = await stream(path, version === undefined ? {} : { version });
      const chunks: Buffer[] = [];
      for await (const c of s.body) chunks.push(Buffer.from(c));
      return { version: s.version, digest: s.digest, bytes: Buffer.concat(chunks) };
    },
    contentStream: stream,
    list: (prefix) =>
      json('GET', prefix ? `/v1/configs?prefix=${encodeURIComponent(prefix)}` : '/v1/configs'),
    history: (path) => json('GET', `${seg(path)}/versions`),
    revert: (path, to, message) => json('POST', `${seg(path)}/revert`, message ? { to, message } : { to }),
    status: (path) => json('GET', `${seg(path)}/status`),
    reportHost: async (hostId, namespace, path, version, digest) => {
      await json(
        'PUT',
        `${seg(path)}/hosts/${encodeURIComponent(hostId)}?namespace=${encodeURIComponent(namespace)}`,
        { version, digest },
      );
    },
  };
}

/**
 * The bottom of DabbaClient: its servers, TLS settings and token, and the one way requests go out
 * (JSON in and out, failover between servers, namespaced paths, server-sent event streams). The
 * client's methods are grouped by area in a chain of classes on top of this one (see client.ts).
 */
import { UnavailableError } from '../errors/index.ts';
import { parseAddrs } from './addrs.ts';
import { errorFromBody, parseResponse } from './responses.ts';
import { readSse } from './sse.ts';
import {
  certificateErrorCode,
  getStream,
  tlsDispatcher,
  untrustedServerError,
  withDispatcher,
  type ClientTls,
  type StreamAnswer,
} from './tls.ts';

export interface ClientOptions {
  /** One or more base URLs (http://host:port), or a comma-separated string of them. */
  addr: string | string[];
  /** Per-request timeout (not applied to streams). */
  timeoutMs?: number;
  /** Bearer token sent with every request (a user's token, or a host's credential). */
  token?: string;
  /** Namespace of namespaced requests (`?namespace=`; `*`: every namespace, for lists). Default: the server's, `default`. */
  namespace?: string;
  /** PEM of the CA that https:// servers are verified against (the cluster CA; default: the system's). */
  ca?: string;
  /** PEM of a client certificate and its key, presented over TLS (an agent's host certificate). */
  cert?: string;
  key?: string;
}

export interface RequestOptions {
  body?: unknown;
  /** A raw body streamed as is (e.g. a tar archive), with its content type. */
  /** A body streamed (an upload) or given whole. */
  raw?: { stream: AsyncIterable<Uint8Array> | Uint8Array; contentType: string };
  headers?: Record<string, string>;
  signal?: AbortSignal;
  stream?: boolean;
}

export class ClientTransport {
  readonly addrs: string[];
  #current = 0;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #ns: string;
  #tls: ClientTls;
  #dispatcher: ReturnType<typeof tlsDispatcher>;

  constructor(options: ClientOptions) {
    this.addrs = parseAddrs(options.addr);
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#token = options.token;
    this.#ns = options.namespace === undefined ? '' : `namespace=${encodeURIComponent(options.namespace)}`;
    this.#tls = {
      ...(options.ca === undefined ? {} : { ca: options.ca }),
      ...(options.cert === undefined ? {} : { cert: options.cert }),
      ...(options.key === undefined ? {} : { key: options.key }),
    };
    this.#dispatcher = tlsDispatcher(this.#tls);
  }

  /** This client's options (its servers, timeout, TLS settings, token and namespace), to make another. */
  protected options(): ClientOptions {
    const namespace = this.#ns === '' ? undefined : decodeURIComponent(this.#ns.slice('namespace='.length));
    return {
      addr: this.addrs,
      timeoutMs: this.#timeoutMs,
      ...this.#tls,
      ...(this.#token === undefined ? {} : { token: this.#token }),
      ...(namespace === undefined ? {} : { namespace }),
    };
  }

  /** The TLS settings requests (and upgrades) are made with. */
  protected get tls(): ClientTls {
    return this.#tls;
  }

  /** The index of the server requests go to first (the last one that answered). */
  protected get currentIndex(): number {
    return this.#current;
  }

  protected set currentIndex(idx: number) {
    this.#current = idx;
  }

  /** A namespaced path: `?namespace=` added when the client has one. */
  protected namespaced(path: string): string {
    if (this.#ns === '') return path;
    return `${path}${path.includes('?') ? '&' : '?'}${this.#ns}`;
  }

  /**
   * Presents another client certificate from the next request on (an agent's renewed host
   * certificate). Open streams keep the connection they have.
   */
  setClientCertificate(cert: string, key: string): void {
    const old = this.#dispatcher;
    this.#tls = { ...this.#tls, cert, key };
    this.#dispatcher = tlsDispatcher(this.#tls);
    // Let requests in flight finish on the old connections.
    void old?.close().catch(() => undefined);
  }

  /** The address requests currently go to. */
  get addr(): string {
    return this.addrs[this.#current] ?? this.addrs[0] ?? '';
  }

  /** Every request's headers, upgrades included: its own and the bearer token, if any. */
  protected requestHeaders(own: Record<string, string> = {}): Record<string, string> {
    return this.#token === undefined ? { ...own } : { ...own, authorization: `Bearer ${this.#token}` };
  }

  /** One request, failed over between the servers (not for uploads, which can be sent once). */
  protected request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    return this.#failover(
      (base) => {
        const signals: AbortSignal[] = [];
        if (opts.signal) signals.push(opts.signal);
        if (!opts.stream) signals.push(AbortSignal.timeout(this.#timeoutMs));
        const init: RequestInit & { duplex?: 'half' } = { method, signal: AbortSignal.any(signals) };
        if (opts.body !== undefined) {
          init.body = JSON.stringify(opts.body);
          init.headers = { 'content-type': 'application/json' };
        } else if (opts.raw) {
          // A stream can be sent once: no failover for uploads. (Node's fetch takes an async iterable;
          // the DOM's BodyInit, which the web UI's typecheck sees, does not list it.)
          Object.assign(init, { body: opts.raw.stream, duplex: 'half' });
          init.headers = { 'content-type': opts.raw.contentType };
        }
        init.headers = this.requestHeaders({
          ...(init.headers as Record<string, string> | undefined),
          ...opts.headers,
        });
        return fetch(base + path, withDispatcher(init, this.#dispatcher));
      },
      async (res) => {
        if (res.status !== 503) return false;
        await res.body?.cancel();
        return true;
      },
      opts.signal,
    );
  }

  /**
   * A GET whose body is read as it arrives, as a Node stream where there is one (tls.ts's
   * `getStream`: far less work per chunk than fetch's web stream, for contents of 100 MB and more).
   */
  protected requestStream(
    path: string,
    opts: { headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<StreamAnswer> {
    return this.#failover(
      (base) =>
        getStream(
          base + path,
          {
            headers: this.requestHeaders(opts.headers),
            ...(opts.signal === undefined ? {} : { signal: opts.signal }),
          },
          this.#dispatcher,
        ),
      async (a) => {
        if (a.status !== 503) return false;
        await a.discard();
        return true;
      },
      opts.signal,
    );
  }

  /**
   * Tries the servers from the one that answered last: the first answer that is not `busy` (a 503,
   * while another server is left to try) is kept. An error goes on to the next server, except when
   * the caller aborted or the server's certificate cannot be verified (said with what to fix).
   */
  async #failover<T>(
    attempt: (base: string) => Promise<T>,
    busy: (answer: T) => Promise<boolean>,
    signal: AbortSignal | undefined,
  ): Promise<T> {
    let lastError: unknown;
    for (let i = 0; i < this.addrs.length; i++) {
      const idx = (this.#current + i) % this.addrs.length;
      const base = this.addrs[idx] ?? '';
      try {
        const answer = await attempt(base);
        if (i < this.addrs.length - 1 && (await busy(answer))) continue;
        this.#current = idx;
        return answer;
      } catch (e) {
        if (signal?.aborted) throw e;
        const tlsCode = certificateErrorCode(e);
        // A server that cannot be verified is not failed over from silently: say what to fix.
        if (tlsCode !== undefined) throw untrustedServerError(base, tlsCode, this.#tls.ca !== undefined, e);
        lastError = e;
      }
    }
    const timedOut = lastError instanceof DOMException && lastError.name === 'TimeoutError';
    throw new UnavailableError(
      timedOut
        ? `server ${this.addrs.join(', ')} did not answer within ${this.#timeoutMs} ms`
        : `cannot reach the Dabba server at ${this.addrs.join(', ')} (is it running? set --addr or DABBA_ADDR)`,
      { cause: lastError, details: { addrs: this.addrs } },
    );
  }

  /** One request whose answer is JSON (an error answer is thrown as its typed error). */
  protected async requestJson<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    return (await parseResponse(res)) as T;
  }
  /** The `event` messages of a server-sent event stream, parsed, until `signal` aborts. */
  protected async *followSse<T>(path: string, event: string, signal: AbortSignal): AsyncGenerator<T> {
    const res = await this.request('GET', path, { signal, stream: true });
    if (!res.ok || !res.body) {
      await parseResponse(res);
      return;
    }
    try {
      for await (const msg of readSse(res.body, signal)) {
        if (msg.event === 'error') throw errorFromBody(JSON.parse(msg.data), 500);
        if (msg.event === event) yield JSON.parse(msg.data) as T;
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
  }
}

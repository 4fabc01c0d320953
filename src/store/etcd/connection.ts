/**
 * The connection to an etcd cluster: one gRPC channel per endpoint (etcd3's raw RPC clients), and
 * every request sent to one endpoint at a time ("sticky"), moving to the next one when it fails.
 *
 * Sticking to one member keeps what a caller sees consistent (a watch sees the compaction its store
 * just made; reads are linearizable on any member anyway). Failover follows what the failure means
 * (grpc-errors.ts): a request that surely did not run is sent again to the next member; one whose
 * outcome is unknown is sent again only when it is idempotent (reads, lease calls, compaction), and
 * otherwise reported as UnavailableError saying that the outcome is unknown. etcd's answers (lease
 * not found, compacted, ...) are never retried. Every call asks for a member with a leader
 * ("hasleader" metadata), so a member cut off from the quorum refuses at once instead of stalling.
 */
import { Etcd3, type ICallable } from 'etcd3';
import { DabbaError, UnavailableError } from '../../errors/index.ts';
import { sleep, type Logger } from '../../lib/index.ts';
import { classify, detailsOf, type GrpcError } from './grpc-errors.ts';
import type { DuplexStream } from './stream-queue.ts';

export type Service = 'KV' | 'Lease' | 'Watch' | 'Maintenance';

/** idempotent: may be sent again when its outcome is unknown. once: only when it surely did not run. */
export type RetryPolicy = 'idempotent' | 'once';

type Callback = (err: GrpcError | null, res?: unknown) => void;
type UnaryFn = (req: unknown, metadata: unknown, options: { deadline: number }, cb: Callback) => unknown;
type StreamFn = (metadata: unknown, options: object) => DuplexStream<unknown, unknown>;

const GRPC_OPTIONS = {
  // Values up to etcd's request limit, and watch catch-up responses holding many of them.
  'grpc.max_receive_message_length': -1,
  // Find a dead peer on an idle-looking but open stream (etcd refuses pings more often than 5 s).
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  // A restarted member is found again quickly.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 2_000,
};

/** One etcd member's client URL and its gRPC clients. */
export class Endpoint {
  readonly url: string;
  readonly index: number;
  readonly #client: Etcd3;
  readonly #pool: ICallable<unknown>;

  constructor(url: string, index: number) {
    this.url = url;
    this.index = index;
    this.#client = new Etcd3({ hosts: [url], grpcOptions: GRPC_OPTIONS });
    // The raw per-host clients: etcd3's own pool would retry non-idempotent writes on other hosts.
    this.#pool = (this.#client as unknown as { pool: ICallable<unknown> }).pool;
  }

  async #get(
    service: Service,
  ): Promise<{ client: Record<string, unknown>; metadata: { set(k: string, v: string): void } }> {
    const { client, metadata } = await this.#pool.withConnection(service, (x) => x);
    metadata.set('hasleader', 'true');
    return { client: client as unknown as Record<string, unknown>, metadata };
  }

  async unary<Res>(service: Service, method: string, req: unknown, deadline: number): Promise<Res> {
    const { client, metadata } = await this.#get(service);
    const fn = client[method] as UnaryFn;
    return new Promise<Res>((resolve, reject) => {
      fn.call(client, req, metadata, { deadline }, (err, res) => {
        if (err) reject(err);
        else resolve(res as Res);
      });
    });
  }

  async stream<Req, Res>(service: Service, method: string): Promise<DuplexStream<Req, Res>> {
    const { client, metadata } = await this.#get(service);
    const fn = client[method] as StreamFn;
    return fn.call(client, metadata, {}) as DuplexStream<Req, Res>;
  }

  close(): void {
    this.#client.close();
  }
}

export interface ConnectionOptions {
  /** Longest time one store call may take, failovers included (ms). */
  requestTimeoutMs: number;
  logger: Logger;
}

export function closedError(endpoints: string[]): DabbaError {
  return new DabbaError('DABBA_E_STORE_CLOSED', 'the etcd store is closed', { details: { endpoints } });
}

export class Connection {
  readonly urls: string[];
  readonly requestTimeoutMs: number;
  readonly #endpoints: Endpoint[];
  readonly #log: Logger;
  #current = 0;
  #closed = false;
  readonly #onMove = new Set<() => void>();

  constructor(urls: string[], options: ConnectionOptions) {
    this.urls = urls;
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.#log = options.logger;
    this.#endpoints = urls.map((u, i) => new Endpoint(u, i));
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The member requests go to now. */
  get current(): Endpoint {
    const ep = this.#endpoints[this.#current];
    if (ep === undefined) throw new Error('no endpoints');
    return ep;
  }

  /** Moves on from ep (if it is still the current member) after it failed. */
  failed(ep: Endpoint, error: unknown): void {
    if (this.#endpoints[this.#current] !== ep || this.#endpoints.length === 1) return;
    this.#current = (ep.index + 1) % this.#endpoints.length;
    this.#log.debug(
      { from: ep.url, to: this.current.url, err: detailsOf(error) },
      'etcd: failing over to the next member',
    );
    for (const fn of this.#onMove) fn();
  }

  /**
   * Calls fn whenever requests move to another member (watches follow: a member that stopped
   * answering, without closing its connections, would otherwise hold them until TCP keepalive
   * notices). Returns the unsubscribe function.
   */
  onMove(fn: () => void): () => void {
    this.#onMove.add(fn);
    return () => this.#onMove.delete(fn);
  }

  assertOpen(): void {
    if (this.#closed) throw closedError(this.urls);
  }

  /**
   * Runs one request (fn, given a member and the attempt's deadline) with failover. etcd's answers
   * and non-gRPC errors are thrown as they are, for the caller to map.
   */
  async run<T>(
    what: string,
    policy: RetryPolicy,
    fn: (ep: Endpoint, deadline: number) => Promise<T>,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<T> {
    this.assertOpen();
    const deadline = Date.now() + timeoutMs;
    const attemptMs = Math.max(1000, Math.floor(timeoutMs / 3));
    let failures = 0;
    for (;;) {
      const ep = this.current;
      try {
        return await fn(ep, Math.min(deadline, Date.now() + attemptMs));
      } catch (e) {
        if (this.#closed) throw closedError(this.urls);
        const failure = classify(e);
        if (failure === 'answered') throw e;
        if (failure === 'unknown' && policy === 'once') {
          this.failed(ep, e);
          throw new UnavailableError(
            `etcd ${ep.url} did not confirm the ${what}, which may or may not have been applied: ${detailsOf(e)}`,
            { cause: e, details: { endpoint: ep.url, endpoints: this.urls, outcome: 'unknown' } },
          );
        }
        this.failed(ep, e);
        failures++;
        const left = deadline - Date.now();
        if (left <= 0) {
          throw new UnavailableError(
            `etcd unavailable at ${this.urls.join(', ')}: ${what} failed for ${timeoutMs} ms (${failures} attempts): ${detailsOf(e)}`,
            { cause: e, details: { endpoints: this.urls } },
          );
        }
        // Try every member once at once, then back off between rounds (an election takes a moment).
        if (failures % this.#endpoints.length === 0) {
          const round = failures / this.#endpoints.length;
          await sleep(Math.min(left, 25 * 2 ** Math.min(round, 5)));
        }
        this.assertOpen();
      }
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const ep of this.#endpoints) ep.close();
  }
}

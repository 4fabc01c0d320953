import type {
  IDeleteRangeResponse,
  ILeaseGrantResponse,
  ILeaseTimeToLiveResponse,
  IPutResponse,
  IRangeResponse,
  ITxnResponse,
} from 'etcd3';
import { LeaseNotFoundError, StoreError, UnavailableError, isDabbaError } from '../../errors/index.ts';
import { silentLogger, type Logger } from '../../lib/index.ts';
import type {
  KeyValue,
  Lease,
  LeaseId,
  PutOptions,
  RangeResult,
  Store,
  TxnRequest,
  TxnResult,
  WatchEvent,
  WatchOptions,
  WriteResult,
} from '../store.ts';
import {
  badRequest,
  checkKey,
  checkLeaseId,
  checkLimit,
  checkPrefix,
  checkRevision,
  checkTtl,
  checkTxn,
  checkValue,
} from '../validate.ts';
import { Connection, type Endpoint, type RetryPolicy } from './connection.ts';
import { detailsOf } from './grpc-errors.ts';
import { Keyspace, num } from './keys.ts';
import { runWatch } from './watch.ts';
import { compareToEtcd, opToEtcd, firstLease } from './txn-ops.ts';
import { mapEtcdError } from './error-map.ts';
import { randomLeaseId, keepAliveOnce } from './leases.ts';

export interface EtcdStoreOptions {
  logger?: Logger;
  /**
   * Prefix of every key this store reads and writes (stripped from what it returns), so that several
   * stores can share one cluster. Revisions, compaction and leases stay cluster-wide. Default none.
   */
  namespace?: string;
  /** How long connect() waits for a member to answer (ms). Default 5,000. */
  dialTimeoutMs?: number;
  /**
   * Longest time one call may take, failovers between members included (ms). One attempt on one
   * member may take a third of it (at least 1 s): that is how long a write that went to a member
   * just before its leader died waits before it is reported as of unknown outcome. A watch ends with
   * UnavailableError when it could not be re-established for 5 times this long. Default 6,000.
   */
  requestTimeoutMs?: number;
  /** The cluster's --max-txn-ops (larger txns are refused before they are sent). Default 128. */
  maxTxnOps?: number;
}

/** Largest lease id we choose: ids stay exact JavaScript numbers (etcd's are int64). */
/**
 * The Store on an etcd (v3.4+) cluster, for a highly available control plane. etcd provides the
 * model natively (global revision, per-key create/mod revision and version, txn, watch with prevKv,
 * leases, compaction); this class maps it, checks arguments exactly as the other implementations do
 * (validate.ts), and fails over between members (connection.ts).
 *
 * Differences to know about:
 * - Lease ids are chosen here (random, below 2^53) because etcd's own ids are int64 and LeaseId is a
 *   number. Keys attached by other etcd clients to larger lease ids report an inexact id.
 * - etcd grants at least its minimum TTL (1.5 election timeouts, rounded up to a second) and rounds
 *   TTLs up to whole seconds; the granted TTL is what grantLease returns.
 * - A write whose outcome the cluster did not confirm (the member died mid-request, or the request
 *   timed out) throws UnavailableError with details.outcome = 'unknown': it may have been applied.
 *   Reads, lease calls and compaction are retried on another member instead.
 * - etcd refuses a txn with more operations than its --max-txn-ops (default 128) and requests larger
 *   than --max-request-bytes (default 1.5 MiB); both answer DABBA_E_BAD_REQUEST.
 */
export class EtcdStore implements Store {
  readonly endpoints: string[];
  readonly maxTxnOps: number;
  readonly namespace: string;
  readonly #conn: Connection;
  readonly #keys: Keyspace;
  readonly #log: Logger;
  /** Aborted by close(): ends every watch. */
  readonly #closing = new AbortController();

  private constructor(conn: Connection, keys: Keyspace, log: Logger, maxTxnOps: number) {
    this.maxTxnOps = maxTxnOps;
    this.#conn = conn;
    this.#keys = keys;
    this.#log = log;
    this.endpoints = conn.urls;
    this.namespace = keys.namespace;
  }

  /**
   * Connects to the cluster at endpoints (client URLs, "http://host:port" or "host:port"); resolves
   * once a member answers, else throws UnavailableError naming the endpoints.
   */
  static async connect(endpoints: string[], options: EtcdStoreOptions = {}): Promise<EtcdStore> {
    if (!Array.isArray(endpoints) || endpoints.length === 0) {
      throw badRequest('etcd needs at least one endpoint (http://host:port)');
    }
    const urls = endpoints.map(normalizeEndpoint);
    const namespace = options.namespace ?? '';
    if (typeof namespace !== 'string' || !namespace.isWellFormed()) {
      throw badRequest('namespace must be a well-formed string');
    }
    const log = options.logger ?? silentLogger;
    const requestTimeoutMs = positive(options.requestTimeoutMs ?? 6_000, 'requestTimeoutMs');
    const maxTxnOps = options.maxTxnOps ?? 128;
    if (!Number.isSafeInteger(maxTxnOps) || maxTxnOps < 1)
      throw badRequest('maxTxnOps must be a positive integer');
    const dialMs = positive(options.dialTimeoutMs ?? 5_000, 'dialTimeoutMs');
    const conn = new Connection(urls, { requestTimeoutMs, logger: log });
    try {
      const status = await conn.run(
        'status request',
        'idempotent',
        (ep, deadline) =>
          ep.unary<{ version: string; leader: string }>('Maintenance', 'status', {}, deadline),
        dialMs,
      );
      log.debug({ endpoints: urls, version: status.version, namespace }, 'etcd store connected');
    } catch (e) {
      conn.close();
      const cause = e instanceof UnavailableError && e.cause !== undefined ? e.cause : e;
      throw new UnavailableError(
        `cannot connect to etcd at ${urls.join(', ')} within ${dialMs} ms: ${detailsOf(cause)}`,
        { cause: e, details: { endpoints: urls } },
      );
    }
    return new EtcdStore(conn, new Keyspace(namespace), log, maxTxnOps);
  }

  /** The member that requests go to now (it changes on failover). */
  get currentEndpoint(): string {
    return this.#conn.current.url;
  }

  // ---- reads ----

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.#unary<IRangeResponse>('read', 'idempotent', 'KV', 'range', {
      key: this.#keys.key(key),
    });
    const raw = res.kvs[0];
    return raw === undefined ? undefined : this.#keys.kv(raw);
  }

  async range(prefix: string, options: { limit?: number } = {}): Promise<RangeResult> {
    checkPrefix(prefix);
    checkLimit(options.limit);
    const res = await this.#unary<IRangeResponse>('range read', 'idempotent', 'KV', 'range', {
      ...this.#keys.prefix(prefix),
      limit: options.limit ?? 0,
    });
    return { kvs: res.kvs.map((kv) => this.#keys.kv(kv)), revision: num(res.header.revision) };
  }

  async revision(): Promise<number> {
    const res = await this.#unary<IRangeResponse>('revision read', 'idempotent', 'KV', 'range', {
      key: Buffer.from([0]),
      count_only: true,
    });
    return num(res.header.revision);
  }

  // ---- writes ----

  async put(key: string, value: string, options: PutOptions = {}): Promise<WriteResult> {
    checkKey(key);
    checkValue(value, key);
    if (options.lease !== undefined) checkLeaseId(options.lease);
    const res = await this.#unary<IPutResponse>(
      'put',
      'once',
      'KV',
      'put',
      {
        key: this.#keys.key(key),
        value: Buffer.from(value, 'utf8'),
        lease: options.lease ?? 0,
      },
      options.lease,
    );
    return { revision: num(res.header.revision) };
  }

  async delete(key: string): Promise<WriteResult & { deleted: number }> {
    checkKey(key);
    const res = await this.#unary<IDeleteRangeResponse>('delete', 'once', 'KV', 'deleteRange', {
      key: this.#keys.key(key),
    });
    return { revision: num(res.header.revision), deleted: num(res.deleted) };
  }

  async deletePrefix(prefix: string): Promise<WriteResult & { deleted: number }> {
    checkPrefix(prefix);
    const res = await this.#unary<IDeleteRangeResponse>('delete', 'once', 'KV', 'deleteRange', {
      ...this.#keys.prefix(prefix),
    });
    return { revision: num(res.header.revision), deleted: num(res.deleted) };
  }

  async txn(request: TxnRequest): Promise<TxnResult> {
    checkTxn(request, this.maxTxnOps);
    const failure = request.failure ?? [];
    const readOnly = [...request.success, ...failure].every((op) => op.type === 'get');
    const res = await this.#unary<ITxnResponse>(
      'txn',
      readOnly ? 'idempotent' : 'once',
      'KV',
      'txn',
      {
        compare: request.compare.map((c) => compareToEtcd(this.#keys, c)),
        success: request.success.map((op) => opToEtcd(this.#keys, op)),
        failure: failure.map((op) => opToEtcd(this.#keys, op)),
      },
      firstLease(request),
    );
    const ran = res.succeeded ? request.success : failure;
    const gets: (KeyValue | undefined)[] = [];
    ran.forEach((op, i) => {
      if (op.type !== 'get') return;
      const raw = res.responses[i]?.response_range?.kvs[0];
      gets.push(raw === undefined ? undefined : this.#keys.kv(raw));
    });
    return { succeeded: res.succeeded, revision: num(res.header.revision), gets };
  }

  // ---- leases ----

  async grantLease(ttlSeconds: number): Promise<Lease> {
    checkTtl(ttlSeconds);
    const ttl = Math.ceil(ttlSeconds);
    for (let tries = 0; tries < 5; tries++) {
      const id = randomLeaseId();
      let sent = false;
      const granted = await this.#run('lease grant', 'idempotent', async (ep, deadline) => {
        try {
          const res = await ep.unary<ILeaseGrantResponse>(
            'Lease',
            'leaseGrant',
            { ID: id, TTL: ttl },
            deadline,
          );
          if (res.error !== '') throw new StoreError(`etcd refused the lease grant: ${res.error}`);
          return num(res.TTL);
        } catch (e) {
          if (!/lease already exists/.test(detailsOf(e))) throw e;
          if (!sent) return undefined; // another lease has this id: choose again
          // An earlier attempt of ours whose answer was lost did create it.
          const res = await ep.unary<ILeaseTimeToLiveResponse>(
            'Lease',
            'leaseTimeToLive',
            { ID: id },
            deadline,
          );
          return num(res.TTL) > 0 ? num(res.grantedTTL) : undefined;
        } finally {
          sent = true;
        }
      });
      if (granted !== undefined) return { id, ttlSeconds: granted };
    }
    throw new StoreError('could not find a free lease id in 5 tries');
  }

  async keepAlive(id: LeaseId): Promise<Lease> {
    checkLeaseId(id);
    const ttl = await this.#run('lease keep-alive', 'idempotent', (ep, deadline) =>
      keepAliveOnce(ep, id, deadline),
    );
    if (ttl <= 0) throw new LeaseNotFoundError(id);
    return { id, ttlSeconds: ttl };
  }

  async revokeLease(id: LeaseId): Promise<void> {
    checkLeaseId(id);
    try {
      await this.#unary('lease revoke', 'idempotent', 'Lease', 'leaseRevoke', { ID: id }, id);
    } catch (e) {
      if (e instanceof LeaseNotFoundError) return;
      throw e;
    }
  }

  // ---- history ----

  /** Compacts the whole cluster's history (not only this store's namespace). */
  async compact(revision: number): Promise<void> {
    checkRevision(revision, 'compact revision');
    try {
      await this.#unary('compaction', 'idempotent', 'KV', 'compact', { revision, physical: false });
    } catch (e) {
      if (isDabbaError(e) && e.details['etcd'] === 'mvcc: required revision has been compacted') return;
      throw e;
    }
  }

  /**
   * See Store.watch. Without fromRevision the watch starts after the revision current when watch()
   * is called (read linearizably, so it includes every write that completed before). The watch
   * follows failovers between members without losing or repeating events; close() ends it cleanly.
   */
  watch(prefix: string, options: WatchOptions): AsyncIterable<WatchEvent[]> {
    try {
      checkPrefix(prefix);
      if (options.fromRevision !== undefined) checkRevision(options.fromRevision, 'fromRevision');
      this.#conn.assertOpen();
    } catch (e) {
      return failing(e);
    }
    const signal = AbortSignal.any([options.signal, this.#closing.signal]);
    const start =
      options.fromRevision === undefined
        ? signal.aborted
          ? Promise.resolve(0)
          : this.revision().then((r) => r + 1)
        : Promise.resolve(options.fromRevision);
    start.catch(() => undefined); // reported by the iterator
    const gen = runWatch({
      conn: this.#conn,
      keys: this.#keys,
      prefix,
      start,
      signal,
      giveUpMs: 5 * this.#conn.requestTimeoutMs,
      logger: this.#log,
    });
    let iterated = false;
    return {
      [Symbol.asyncIterator]: () => {
        if (iterated) throw new TypeError('a watch can be iterated only once');
        iterated = true;
        return gen;
      },
    };
  }

  // ---- lifecycle ----

  /** Ends every watch and closes the connections; later calls throw DABBA_E_STORE_CLOSED. */
  close(): Promise<void> {
    if (!this.#conn.closed) {
      this.#closing.abort();
      this.#conn.close();
      this.#log.debug({ endpoints: this.endpoints }, 'etcd store closed');
    }
    return Promise.resolve();
  }

  // ---- internals ----

  #run<T>(what: string, policy: RetryPolicy, fn: (ep: Endpoint, deadline: number) => Promise<T>): Promise<T> {
    return this.#conn.run(what, policy, fn).catch((e: unknown) => {
      throw mapEtcdError(e, what, this.endpoints);
    });
  }

  #unary<Res>(
    what: string,
    policy: RetryPolicy,
    service: 'KV' | 'Lease',
    method: string,
    req: object,
    lease?: LeaseId,
  ): Promise<Res> {
    return this.#conn
      .run(what, policy, (ep, deadline) => ep.unary<Res>(service, method, req, deadline))
      .catch((e: unknown) => {
        throw mapEtcdError(e, what, this.endpoints, lease);
      });
  }
}

function normalizeEndpoint(e: unknown): string {
  if (typeof e !== 'string' || e.trim() === '') throw badRequest(`etcd endpoint must be a non-empty string`);
  const s = e.trim().replace(/\/+$/, '');
  if (/^https?:\/\//.test(s)) return s;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(s))
    throw badRequest(`etcd endpoint ${s}: only http:// and https:// are supported`);
  return `http://${s}`;
}

function positive(n: number, what: string): number {
  if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0)
    throw badRequest(`${what} must be a positive number of ms`);
  return n;
}

function failing(e: unknown): AsyncIterable<WatchEvent[]> {
  const error = e instanceof Error ? e : new Error(String(e));
  return {
    [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(error) }),
  };
}

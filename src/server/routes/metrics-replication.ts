/**
 * Replication of time-series points between server replicas (docs/telemetry.md, "Replication of
 * points between replicas"): the replica that received a batch from an agent, once the batch is
 * applied and durable, forwards it with the agent's own credentials (or, for an agent that
 * authenticated by certificate, with the replica's own: PeerCredential) to its successor (the next
 * replica by id among those registered under `/servers/`, a ring) at
 * `POST /v1/metrics/copies/STORE?replica=ID`, STORE being this replica's store id. The successor
 * keeps it in its copy store for that origin (CopyStores), idempotently.
 *
 * Availability first: the agent is answered once the copy is durable or the forward failed (one
 * bounded attempt, FORWARD_TIMEOUT_MS), logged and counted (`dabba_metrics_copy_forwards_total`).
 * After a failure, forwards to that successor are skipped for SKIP_AFTER_FAILURE_MS (counted as
 * `skipped`), so a dead successor still registered does not slow every ingest down.
 */
import { checkBoundHost, UNRESTRICTED, type Principal } from '../../auth/index.ts';
import { DabbaError, messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { INGEST_LIMITS, type IngestBatch, type IngestResult } from '../../model/index.ts';
import {
  parseIngestBatch,
  type ControlPlaneMetrics,
  type TelemetryService,
} from '../../telemetry/server/index.ts';
import { withDispatcher } from '../agent-connection.ts';
import { readJsonBody } from '../http/body.ts';
import type { Router } from '../http/router.ts';
import { REPLICA_ID_PATTERN } from '../shards/index.ts';
import { dispatcherFor, type MetricsPeers } from './metrics-fanout.ts';
import { StoreRegistration } from './metrics-stores.ts';

/** How long one forward may take (the agent's answer waits for it). */
export const FORWARD_TIMEOUT_MS = 2_000;
/** After a failed forward, how long the same successor is not tried again. */
export const SKIP_AFTER_FAILURE_MS = 5_000;
/** How long the ring read from `/servers/` is reused. */
const RING_CACHE_MS = 2_000;

interface Ring {
  self: string;
  successor: { id: string; url: string } | undefined;
  at: number;
}

export class MetricsForwarder {
  readonly #peers: MetricsPeers;
  readonly #telemetry: TelemetryService;
  readonly #metrics: ControlPlaneMetrics | undefined;
  readonly #logger: Logger;
  readonly #registration: StoreRegistration | undefined;
  #ring: Ring | undefined;
  /** The successor that failed last, and until when it is skipped. */
  #failed: { id: string; until: number } | undefined;
  #loggedAt = 0;

  constructor(peers: MetricsPeers, telemetry: TelemetryService, metrics: ControlPlaneMetrics | undefined) {
    this.#peers = peers;
    this.#telemetry = telemetry;
    this.#metrics = metrics;
    this.#logger = peers.logger.child({ part: 'metrics-replication' });
    this.#registration = peers.store === undefined ? undefined : new StoreRegistration(peers.store);
  }

  /** Before this replica's first batch: its store listed under /tsdb/stores/ (best effort). */
  async register(): Promise<void> {
    if (this.#registration === undefined) return;
    try {
      const ring = await this.#currentRing();
      if (ring === undefined) return;
      await this.#registration.ensure(this.#telemetry.storeId, ring.self, this.#telemetry.clock.now());
    } catch (e) {
      this.#logger.warn(
        { err: e },
        'could not list this replica\u2019s time-series store; retried with the next batch',
      );
    }
  }

  /**
   * Forwards an applied, durable batch to the successor; resolves when it is copied or has failed
   * (never rejects). `headers`: the agent's credentials (undefined: there is none to forward).
   */
  async forward(batch: IngestBatch, headers: Record<string, string> | undefined): Promise<void> {
    let ring: Ring | undefined;
    try {
      ring = await this.#currentRing();
    } catch (e) {
      return this.#fail('', `the replicas could not be read: ${messageOf(e)}`, batch);
    }
    const to = ring?.successor;
    if (ring === undefined || to === undefined) return;
    const now = Date.now();
    if (this.#failed?.id === to.id && now < this.#failed.until) {
      this.#metrics?.copyForwarded('skipped');
      return;
    }
    let auth = headers;
    try {
      // An agent that authenticated by certificate has nothing to forward: the replica vouches.
      auth ??= await this.#peers.credential?.headers();
    } catch (e) {
      return this.#fail(to.id, `no credential of this replica: ${messageOf(e)}`, batch);
    }
    if (auth === undefined) return this.#fail(to.id, 'no credential to forward', batch);
    const path = `/v1/metrics/copies/${this.#telemetry.storeId}?replica=${encodeURIComponent(ring.self)}`;
    try {
      const res = await fetch(
        `${to.url}${path}`,
        withDispatcher(
          {
            method: 'POST',
            headers: { ...auth, 'content-type': 'application/json', accept: 'application/json' },
            body: JSON.stringify(batch),
            signal: AbortSignal.timeout(FORWARD_TIMEOUT_MS),
          },
          dispatcherFor(this.#peers.caPem),
        ),
      );
      const body = (await res.json()) as Partial<IngestResult>;
      if (!res.ok) return this.#fail(to.id, `${res.status} ${JSON.stringify(body).slice(0, 200)}`, batch);
      this.#failed = undefined;
      this.#metrics?.copyForwarded(body.duplicate === true ? 'duplicate' : 'copied');
    } catch (e) {
      this.#fail(to.id, messageOf(e), batch);
    }
  }

  #fail(successor: string, why: string, batch: IngestBatch): void {
    this.#metrics?.copyForwarded('failed');
    const now = Date.now();
    if (successor !== '') this.#failed = { id: successor, until: now + SKIP_AFTER_FAILURE_MS };
    // One line per 10 s at most: a dead successor would otherwise log once per batch.
    if (now - this.#loggedAt < 10_000) return;
    this.#loggedAt = now;
    this.#logger.warn(
      { successor, host: batch.host, seq: batch.seq, why },
      'metrics batch not copied to the successor replica (its points are on this replica only)',
    );
  }

  async #currentRing(): Promise<Ring | undefined> {
    const now = Date.now();
    if (this.#ring !== undefined && now - this.#ring.at < RING_CACHE_MS) return this.#ring;
    const view = await this.#peers.servers.view();
    const self = view.replicas.find((r) => r.self);
    if (self === undefined) return undefined;
    const others = view.replicas
      .filter((r) => !r.self)
      .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const next = others.find((r) => r.id > self.id) ?? others[0];
    this.#ring = {
      self: self.id,
      successor: next === undefined ? undefined : { id: next.id, url: next.url },
      at: now,
    };
    return this.#ring;
  }
}

/** What an agent's request carries that the successor will check the same way. */
export function forwardableCredentials(
  principal: Principal,
  authorization: string | undefined,
): Record<string, string> | undefined {
  if (authorization !== undefined) return { authorization };
  // Authentication off (no principal to prove): nothing is needed.
  if (principal === UNRESTRICTED) return {};
  return undefined;
}

/** `POST /v1/metrics/copies/:origin`: a batch forwarded by the replica that received it. */
export function metricsCopyRoutes(
  router: Router,
  telemetry: TelemetryService | undefined,
  metrics: ControlPlaneMetrics | undefined,
): void {
  router.on('POST', '/v1/metrics/copies/:origin', async ({ req, principal, params, query }) => {
    if (telemetry === undefined)
      throw new DabbaError('DABBA_E_UNAVAILABLE', 'this server keeps no time series (no data dir)');
    const origin = params['origin'] ?? '';
    if (origin === telemetry.storeId)
      throw new DabbaError('DABBA_E_BAD_REQUEST', 'a replica keeps no copies of its own points');
    const replica = query.get('replica') ?? 'unknown';
    if (!REPLICA_ID_PATTERN.test(replica))
      throw new DabbaError('DABBA_E_BAD_REQUEST', `replica "${replica.slice(0, 140)}" is not a replica id`);
    const batch = parseIngestBatch(await readJsonBody(req, INGEST_LIMITS.bodyBytes));
    checkBoundHost(principal, batch.host);
    const r = await telemetry.copies.apply(origin, replica, batch);
    metrics?.copyReceived(r.duplicate);
    return r;
  });
}

/**
 * The control plane in one process: API, scheduler loop and housekeeping over one Store. Several
 * replicas may share one store (etcd): each registers itself, owns a fair share of the scheduler
 * shards and schedules only their jobs; one of them (the broker shard's owner) does the host-wide
 * duties. Any replica serves the whole API from the store.
 */
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DabbaError } from '../errors/index.ts';
import type { Clock, Logger, Watermark } from '../lib/index.ts';
import { handleAcceptErrors, systemClock } from '../lib/index.ts';
import { BlobStore, type ImageStore } from '../image/index.ts';
import { ConfigStore, Distributor } from '../configdist/server/index.ts';
import { registerDistributorMetrics } from './configdist-metrics.ts';
import type { Store } from '../store/index.ts';
import { createApiServer } from './api.ts';
import { PeerCredential, sharedImages } from './images/index.ts';
import { preparePki, type ServerPki } from './pki.ts';
import { serversView } from './routes/servers.ts';
import { runRemediation } from './remediation/loop.ts';
import { Autoscaler } from './autoscaler.ts';
import { metricsReader } from './metrics-reader.ts';
import { SchedulerLoop } from './scheduler-loop.ts';
import { REPLICA_ID_PATTERN, Replica, defaultReplicaId, runBrokerDuties } from './shards/index.ts';
import { EventLog } from './state/events.ts';
import { openLogTables, type LogTablesOptions } from './log-tables-feed.ts';
import { StorageGuard, observeStore, timeStore } from './storage/index.ts';
import { parseTaskNetwork, type JobRecord } from '../model/index.ts';
import {
  AuditLog,
  TokenCache,
  runTokenSweeper,
  bearerAuthenticator,
  bootstrapAdminToken,
  certificateAuthenticator,
  type Authenticator,
} from '../auth/index.ts';
import type { ApiAuth } from './api.ts';
import { ControlPlaneMetrics, TelemetryService, type TelemetryOptions } from '../telemetry/server/index.ts';

export interface ServerOptions {
  store: Store;
  /** Shown by /v1/health: "sqlite:PATH" or "etcd://...". */
  storeName: string;
  host: string;
  port: number;
  logger: Logger;
  clock?: Clock;
  /** Seconds without a heartbeat before a host is down. */
  hostTtlSeconds?: number;
  /** How long recalling a host loaned to the batch pool may take (`recallWithin`, default 60 s; docs/elastic.md). */
  recallWithinMs?: number;
  version?: string;
  /** Image store served to agents and filled by `dabba image import|create`. */
  images?: ImageStore;
  /** The web UI's built files (web/dist), served at /ui/ (bin/ gives the checkout's). */
  uiDir?: string;
  /** This replica's id (default hostname-pid-random). A restart with the same id replaces the old registration. */
  replicaId?: string;
  /** Number of scheduler shards; every replica on one store must use the same (default 16). */
  shardCount?: number;
  /** TTL of the replica's lease, in seconds (default 5): a dead replica's shards move after about this long. */
  leaseTtlSeconds?: number;
  /** URL other replicas and `dabba servers` show for this one (default: the listen address). */
  advertiseUrl?: string;
  /** Events kept by the broker's trimming (default 5,000). */
  keepEvents?: number;
  /** How often the broker duties run (ms, default 60,000). */
  brokerIntervalMs?: number;
  /** How often the remediation rules are evaluated, by the broker shard's owner (ms, default 10,000). */
  remediationIntervalMs?: number;
  /**
   * The cluster's task network (private IPv4 CIDR, default 10.88.0.0/16): each host whose runtime
   * gives tasks addresses (oci) gets a range of it at registration, recorded in the store.
   */
  taskNetwork?: string;
  /** Prefix length of each host's range of the task network (default 24: 254 task addresses). */
  hostSubnetSize?: number;
  /**
   * Where the cluster CA is written (`ca.crt`, `ca.key` 0600) and read from. The CA itself lives in
   * the store, shared by every replica; without a data dir it is only there.
   */
  dataDir?: string;
  /**
   * Where config contents are kept, content-addressed (default DATA_DIR/configs). Without it or a
   * data dir, configs are limited to 256 KiB, kept in the store only (docs/config.md).
   */
  configDir?: string;
  /** Config distribution trees: children per host at most (default 3) and heartbeat interval (ms, default 2,000). */
  configDist?: { fanout?: number; heartbeatMs?: number; deadAfterMs?: number };
  /** Serve HTTPS on loopback too (beyond loopback it always does). */
  forceTls?: boolean;
  /** More names (DNS or IP) for the server certificate, besides the listen/advertise hosts and hostname. */
  tlsNames?: string[];
  /**
   * Storage faults (docs/operations.md): the directories holding the server's data, watched for free
   * space below the watermark and for turning read-only. Without it, only the store's own errors
   * say that a disk is full.
   */
  storage?: { paths: string[]; watermark?: Watermark; intervalMs?: number };
  /**
   * Authentication and authorization (on by default). `false` turns them off: every request acts as
   * an admin and nothing is audited — only for measuring their cost (bench/api-auth.ts).
   */
  auth?: false | AuthOptions;
  /** Audit records kept by the broker's trimming (default 10,000). */
  keepAudit?: number;
  /**
   * Where this replica keeps its time series (default `DATA_DIR/tsdb` when `dataDir` is set; without
   * either, the metrics endpoints answer 503).
   */
  telemetryDir?: string;
  /** Options of the time-series store (tests shorten its intervals). */
  telemetry?: TelemetryOptions['tsdb'];
  /**
   * Log tables (`dabba table query`), in DATA_DIR/logtables: on by default with a data dir; `false`
   * turns them off. Retention defaults: 7 days, 1 GiB.
   */
  logTables?: false | LogTablesOptions;
}

export interface AuthOptions {
  /**
   * The bootstrap admin token to use when the store has no admin token yet (default: a new random
   * one). Replicas given the same one agree; tests pass their own.
   */
  adminToken?: string;
  /**
   * Authenticators tried after the client certificate's and before the bearer token's.
   */
  authenticators?: readonly Authenticator[];
}

export interface CloseOptions {
  /**
   * Leave the replica group: revoke the lease so that the shards move at once (default true). With
   * false the shards stay held until the lease expires, as if the process had been killed.
   */
  release?: boolean;
}

export interface RunningServer {
  /** http://... on plain loopback, https://... with TLS. */
  url: string;
  /**
   * The bare admin token this server created in the store at start (a fresh cluster), for the
   * caller to hand over (`DATA_DIR/admin.token`); undefined when an admin token existed already.
   */
  adminToken?: string;
  /** The cluster CA and this replica's certificate; `pki.tls` says whether the API serves HTTPS. */
  pki: ServerPki;
  scheduler: SchedulerLoop;
  replica: Replica;
  /** Every API route this server serves (`METHOD /pattern`), e.g. to check the authorization table. */
  routes(): { method: string; pattern: string }[];
  /** Stops accepting requests, ends streams and loops; does not close the store. */
  close(options?: CloseOptions): Promise<void>;
}

export const DEFAULT_SHARD_COUNT = 16;
export const DEFAULT_LEASE_TTL_SECONDS = 5;

export async function startServer(o: ServerOptions): Promise<RunningServer> {
  const clock = o.clock ?? systemClock;
  const replicaId = o.replicaId ?? defaultReplicaId();
  const shardCount = o.shardCount ?? DEFAULT_SHARD_COUNT;
  const ttl = o.leaseTtlSeconds ?? DEFAULT_LEASE_TTL_SECONDS;
  checkOptions(replicaId, shardCount, ttl);
  const taskNetwork = parseTaskNetwork(o.taskNetwork, o.hostSubnetSize);
  const logger = o.logger.child({ replica: replicaId });
  const controller = new AbortController();
  const signal = controller.signal;
  const guard = o.storage
    ? new StorageGuard({ ...o.storage, clock, logger: logger.child({ part: 'storage' }) })
    : undefined;
  // Every part writes through the observed store: a write refused for lack of space is seen once.
  const metrics = new ControlPlaneMetrics();
  const store = timeStore(guard ? observeStore(o.store, guard) : o.store, metrics);
  const configs = await openConfigStore(
    store,
    clock,
    o.configDir ?? (o.dataDir && join(o.dataDir, 'configs')),
  );
  const events = new EventLog(store, clock);
  guard?.attach(events);
  let replica: Replica | undefined = undefined;
  const serversSource = {
    view: () => {
      if (replica === undefined) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the server is starting');
      return serversView(store, o.storeName, replica);
    },
  };
  // Config shard c belongs to the replica that owns scheduler shard c mod the shard count.
  const distributor = new Distributor({
    store,
    logger: logger.child({ part: 'configdist' }),
    ownerId: replicaId,
    owns: (shard) => replica?.ownedShards().includes(shard % shardCount) ?? false,
    ...o.configDist,
  });
  registerDistributorMetrics(metrics.registry, distributor);
  let auth: ApiAuth | undefined;
  let adminToken: string | undefined;
  if (o.auth !== false) {
    const tokens = new TokenCache(store, logger.child({ part: 'tokens' }));
    auth = {
      tokens,
      audit: new AuditLog(store, clock, logger.child({ part: 'audit' })),
      // A verified host certificate first: an agent beyond loopback is its certificate.
      authenticators: [
        certificateAuthenticator(),
        ...(o.auth?.authenticators ?? []),
        bearerAuthenticator(tokens, clock),
      ],
    };
    adminToken = await bootstrapAdminToken(store, clock.now(), o.auth?.adminToken);
  }
  let cacheOwner: SchedulerLoop | undefined = undefined;
  const pki = await preparePki(o.store, {
    host: o.host,
    logger,
    ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
    ...(o.advertiseUrl === undefined ? {} : { advertiseUrl: o.advertiseUrl }),
    ...(o.forceTls === undefined ? {} : { forceTls: o.forceTls }),
    ...(o.tlsNames === undefined ? {} : { tlsNames: o.tlsNames }),
  });
  const telemetryDir = o.telemetryDir ?? (o.dataDir === undefined ? undefined : join(o.dataDir, 'tsdb'));
  const telemetry =
    telemetryDir === undefined
      ? undefined
      : new TelemetryService({
          dir: telemetryDir,
          clock,
          logger: logger.child({ part: 'telemetry' }),
          ...(o.telemetry === undefined ? {} : { tsdb: o.telemetry }),
        });
  let watchLag = 0;
  metrics.registry.gauge(
    'dabba_agents_connected',
    "hosts whose agent is connected (heartbeat within the TTL), by state, as this replica's scheduler cache sees them",
    ['state'],
    () => {
      const hosts = cacheOwner && cacheOwner.cache.revision > 0 ? cacheOwner.cache.hostViews() : [];
      const by = new Map<string, number>([
        ['ready', 0],
        ['cordoned', 0],
        ['draining', 0],
      ]);
      for (const h of hosts) if (h.state !== 'down') by.set(h.state, (by.get(h.state) ?? 0) + 1);
      return [...by].map(([state, n]) => [[state], n] as const);
    },
  );
  metrics.registry.gauge(
    'dabba_scheduler_watch_lag_revisions',
    "store revisions not yet seen by this replica's scheduler watch (at scrape time)",
    [],
    () => [[[], watchLag]],
  );
  if (telemetry !== undefined) {
    metrics.registry.gauge('dabba_tsdb_series', 'time series known to this replica', [], () => [
      [[], telemetry.db.series().length],
    ]);
    metrics.registry.gauge(
      'dabba_tsdb_head_points',
      'points in the open head (not yet in blocks)',
      [],
      () => [[[], telemetry.db.stats().headPoints]],
    );
  }
  const peerCredential = new PeerCredential(store, clock, replicaId, auth !== undefined);
  const images =
    o.images === undefined
      ? undefined
      : sharedImages({
          local: o.images,
          store,
          clock,
          replicaId,
          logger: logger.child({ part: 'images' }),
          credential: peerCredential,
          ...(pki.tls ? { caPem: pki.ca.certPem } : {}),
          peers: async () =>
            replica === undefined
              ? []
              : (await serversView(store, o.storeName, replica)).replicas.filter((r) => !r.self),
        });
  const logTables =
    o.dataDir === undefined || o.logTables === false
      ? undefined
      : await openLogTables(join(o.dataDir, 'logtables'), { clock, logger, ...(o.logTables ?? {}) });
  const http = createApiServer(
    {
      store,
      storeName: o.storeName,
      clock,
      logger,
      events,
      liveness: { ttlSeconds: o.hostTtlSeconds ?? 10 },
      taskNetwork,
      version: o.version ?? '0.1.0',
      ...(images ? { images } : {}),
      peerCredential,
      ...(o.uiDir === undefined ? {} : { uiDir: o.uiDir }),
      configs,
      distributor,
      ...(auth ? { auth } : {}),
      pki,
      ...(guard ? { storage: guard } : {}),
      ...(telemetry ? { telemetry } : {}),
      metrics: {
        registry: metrics,
        refresh: async () => {
          const owner = cacheOwner;
          watchLag =
            owner && owner.cache.revision > 0
              ? Math.max(0, (await store.revision()) - owner.cache.revision)
              : 0;
        },
      },
      ...(logTables ? { logTables: logTables.tables } : {}),
      cachedHosts: () =>
        cacheOwner && cacheOwner.cache.revision > 0 ? cacheOwner.cache.hostKinds() : undefined,
      servers: serversSource,
    },
    signal,
  );
  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(o.port, o.host, () => {
      http.off('error', reject);
      resolve();
    });
  }).catch((e: unknown) => {
    telemetry?.close();
    throw e;
  });
  handleAcceptErrors(http, logger, 'API server');
  const addr = http.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${pki.tls ? 'https' : 'http'}://${host}:${addr.port}`;
  const r = new Replica({
    store,
    logger: logger.child({ part: 'shards' }),
    clock,
    id: replicaId,
    url: o.advertiseUrl ?? url,
    shardCount,
    leaseTtlSeconds: ttl,
  });
  try {
    await r.start();
  } catch (e) {
    controller.abort();
    http.closeAllConnections();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    telemetry?.close();
    await logTables?.tables.close();
    throw e;
  }
  replica = r;
  const readMetrics = metricsReader({
    telemetry,
    peers: { servers: serversSource, logger, store, ...(pki.tls ? { caPem: pki.ca.certPem } : {}) },
    ...(auth ? { authorization: async () => (await peerCredential.headers()).authorization ?? '' } : {}),
  });
  const autoscaler: Autoscaler = new Autoscaler({
    jobs: (): JobRecord[] => [...scheduler.cache.jobs.values()].map((e) => e.value),
    runningTasks: (job) =>
      [...(scheduler.cache.tasks.get(job)?.values() ?? [])].filter((t) => t.value.desired !== 'stop').length,
    owns: (job) => r.fenceFor(job) !== undefined,
    read: readMetrics,
    changed: (job) => scheduler.jobChanged(job),
    events,
    clock,
    logger: logger.child({ part: 'autoscaler' }),
  });
  const scheduler: SchedulerLoop = new SchedulerLoop({
    autoscale: autoscaler,
    metrics,
    store,
    clock,
    logger: logger.child({ part: 'scheduler' }),
    events,
    ownership: r,
    replicaId,
    ...(o.recallWithinMs === undefined ? {} : { recallWithinMs: o.recallWithinMs }),
  });
  cacheOwner = scheduler;
  r.onChange((c) => {
    if (c.acquired.length > 0) scheduler.ownershipChanged();
  });
  const loops = [
    ...(auth ? [auth.tokens.run(signal), runTokenSweeper({ store, clock, logger }, signal)] : []),
    r.run(signal),
    scheduler.run(signal),
    autoscaler.run(signal),
    distributor.run(signal),
    ...(guard ? [guard.run(signal)] : []),
    ...(images ? [images.run(signal)] : []),
    ...(telemetry ? [telemetry.run(signal)] : []),
    ...(logTables ? logTables.run(store, signal) : []),
    runRemediation(
      {
        store,
        replica: r,
        clock,
        events,
        logger: logger.child({ part: 'remediation' }),
        intervalMs: o.remediationIntervalMs ?? 10_000,
        ...(telemetry ? { read: readMetrics } : {}),
      },
      signal,
    ),
    runBrokerDuties(
      {
        store,
        replica: r,
        logger: logger.child({ part: 'broker' }),
        keepEvents: o.keepEvents ?? 5000,
        keepAudit: o.keepAudit ?? 10_000,
        intervalMs: o.brokerIntervalMs ?? 60_000,
      },
      signal,
    ),
  ];
  logger.info(
    { url, shards: shardCount, leaseTtlSeconds: ttl, tls: pki.tls, caPin: pki.ca.pin },
    'server listening',
  );
  let closed: Promise<void> | undefined;
  return {
    url,
    ...(adminToken === undefined ? {} : { adminToken }),
    pki,
    scheduler,
    replica: r,
    routes: () => http.router.routes(),
    close(options: CloseOptions = {}) {
      closed ??= (async () => {
        controller.abort();
        http.closeAllConnections();
        await new Promise<void>((resolve) => http.close(() => resolve()));
        await Promise.allSettled(loops);
        await logTables?.tables.close();
        if (options.release ?? true) {
          await peerCredential.revoke();
          await r.leave().catch((e: unknown) => logger.warn({ err: e }, 'could not leave the replica group'));
        }
      })();
      return closed;
    },
  };
}

function checkOptions(replicaId: string, shardCount: number, ttl: number): void {
  if (!REPLICA_ID_PATTERN.test(replicaId))
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `replica id "${replicaId}" is not valid (letters, digits, ".", "_", ":", "-"; at most 128)`,
    );
  if (!Number.isInteger(shardCount) || shardCount < 1 || shardCount > 4096)
    throw new DabbaError(
      'DABBA_E_BAD_REQUEST',
      `shard count must be an integer from 1 to 4096, got ${shardCount}`,
    );
  if (!Number.isFinite(ttl) || ttl <= 0 || ttl > 3600)
    throw new DabbaError('DABBA_E_BAD_REQUEST', `lease TTL must be from 0 to 3600 seconds, got ${ttl}`);
}

async function openConfigStore(store: Store, clock: Clock, dir: string | undefined): Promise<ConfigStore> {
  if (dir === undefined || dir === '') return new ConfigStore(store, clock);
  const blobs = new BlobStore(dir);
  await blobs.init();
  return new ConfigStore(store, clock, blobs);
}

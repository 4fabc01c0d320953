/**
 * The control plane in one process: API, scheduler loop and housekeeping over one Store. Several
 * replicas may share one store (etcd): each registers itself, owns a fair share of the scheduler
 * shards and schedules only their jobs; one of them (the broker shard's owner) does the host-wide
 * duties. Any replica serves the whole API from the store.
 */
import type { Server } from 'node:http';
import { join } from 'node:path';
import { DabbaError } from '../errors/index.ts';
import type { Clock, Logger, Watermark } from '../lib/index.ts';
import { handleAcceptErrors, systemClock } from '../lib/index.ts';
import { BlobStore, type ImageStore } from '../image/index.ts';
import { ConfigStore, Distributor } from '../configdist/server/index.ts';
import { registerDistributorMetrics } from './configdist-metrics.ts';
import type { Store } from '../store/index.ts';
import { createApiServer } from './api.ts';
import { PeerCredential } from './images/index.ts';
import { preparePki, type ServerPki } from './pki.ts';
import { serversView } from './routes/servers.ts';
import { metricsReader } from './metrics-reader.ts';
import type { SchedulerLoop } from './scheduler-loop.ts';
import { CachedJobViews } from './cached-job-view.ts';
import { REPLICA_ID_PATTERN, Replica, defaultReplicaId } from './shards/index.ts';
import { EventLog } from './state/events.ts';
import { openLogTables, type LogTablesOptions } from './log-tables-feed.ts';
import { StorageGuard, observeStore, timeStore } from './storage/index.ts';
import { parseTaskNetwork } from '../model/index.ts';
import type { Authenticator } from '../auth/index.ts';
import {
  ControlPlaneMetrics,
  type TelemetryOptions,
  type TelemetryService,
} from '../telemetry/server/index.ts';
import { openAuth } from './start/auth.ts';
import { registerServerGauges } from './start/gauges.ts';
import { openImages } from './start/images.ts';
import { closeHttp, listen, listenUrl } from './start/listen.ts';
import { runServerLoops } from './start/loops.ts';
import { newScheduling } from './start/scheduling.ts';
import { openTelemetry } from './start/telemetry.ts';

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
  const later: Later = {};
  const parts = await openParts(o, { clock, replicaId, shardCount, logger }, later);
  const { metrics, store, configs, events, serversSource, distributor, auth, adminToken, pki } = parts;
  const { guard, telemetry, refreshMetrics, peerCredential, images, logTables } = parts;
  const jobViews = new CachedJobViews(() => later.scheduler?.cache, store);
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
      metrics: { registry: metrics, refresh: refreshMetrics },
      ...(logTables ? { logTables: logTables.tables } : {}),
      cachedHosts: () => {
        const cacheOwner = later.scheduler;
        return cacheOwner && cacheOwner.cache.revision > 0 ? cacheOwner.cache.hostKinds() : undefined;
      },
      cachedJobJson: (id) => jobViews.json(id),
      servers: serversSource,
    },
    signal,
  );
  await listen(http, o.port, o.host).catch((e: unknown) => {
    telemetry?.close();
    throw e;
  });
  handleAcceptErrors(http, logger, 'API server');
  const url = listenUrl(http, pki.tls);
  const r = await joinReplicaGroup(o, {
    ...{ store, logger, clock, replicaId, url, shardCount, ttl, controller, http, telemetry, logTables },
  });
  later.replica = r;
  const readMetrics = metricsReader({
    telemetry,
    peers: { servers: serversSource, logger, store, ...(pki.tls ? { caPem: pki.ca.certPem } : {}) },
    ...(auth ? { authorization: async () => (await peerCredential.headers()).authorization ?? '' } : {}),
  });
  const common = { store, clock, logger, events };
  const { autoscaler, scheduler } = newScheduling(o, { ...common, metrics, replicaId, r, readMetrics });
  later.scheduler = scheduler;
  r.onChange((c) => {
    if (c.acquired.length > 0) scheduler.ownershipChanged();
  });
  const loops = runServerLoops(
    o,
    {
      ...common,
      auth,
      r,
      scheduler,
      autoscaler,
      distributor,
      guard,
      images,
      telemetry,
      logTables,
      readMetrics,
    },
    signal,
  );
  logger.info(
    { url, shards: shardCount, leaseTtlSeconds: ttl, tls: pki.tls, caPin: pki.ca.pin },
    'server listening',
  );
  const close = closeServer({ controller, http, loops, logTables, peerCredential, r, logger });
  return {
    url,
    ...(adminToken === undefined ? {} : { adminToken }),
    pki,
    scheduler,
    replica: r,
    routes: () => http.router.routes(),
    close,
  };
}

/**
 * This replica, joined to the group (its shards). When it cannot join, what the start did so far is
 * undone (loops, the API, time series, log tables) before the error goes up.
 */
async function joinReplicaGroup(
  o: ServerOptions,
  p: {
    store: Store;
    logger: Logger;
    clock: Clock;
    replicaId: string;
    url: string;
    shardCount: number;
    ttl: number;
    controller: AbortController;
    http: Server;
    telemetry: TelemetryService | undefined;
    logTables: { tables: { close(): Promise<void> } } | undefined;
  },
): Promise<Replica> {
  const { store, logger, clock, replicaId, url, shardCount, ttl, controller, http, telemetry, logTables } = p;
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
    await closeHttp(http);
    telemetry?.close();
    await logTables?.tables.close();
    throw e;
  }
  return r;
}

/** What later steps of the start make, read by the parts made before them once it exists. */
interface Later {
  /** This replica, once it has joined the group. */
  replica?: Replica;
  /** The scheduler whose cache the API and the gauges read. */
  scheduler?: SchedulerLoop;
}

/**
 * The parts the API serves, in the order they are made: the observed store, configs, events, config
 * distribution, auth, PKI, time series and gauges, shared images, log tables.
 */
async function openParts(
  o: ServerOptions,
  {
    clock,
    replicaId,
    shardCount,
    logger,
  }: { clock: Clock; replicaId: string; shardCount: number; logger: Logger },
  later: Later,
) {
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
  const serversSource = {
    view: () => {
      const replica = later.replica;
      if (replica === undefined) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the server is starting');
      return serversView(store, o.storeName, replica);
    },
  };
  // Config shard c belongs to the replica that owns scheduler shard c mod the shard count.
  const distributor = new Distributor({
    store,
    logger: logger.child({ part: 'configdist' }),
    ownerId: replicaId,
    owns: (shard) => later.replica?.ownedShards().includes(shard % shardCount) ?? false,
    ...o.configDist,
  });
  registerDistributorMetrics(metrics.registry, distributor);
  const { auth, adminToken } = await openAuth(o, store, clock, logger);
  const pki = await preparePki(o.store, {
    host: o.host,
    logger,
    ...(o.dataDir === undefined ? {} : { dataDir: o.dataDir }),
    ...(o.advertiseUrl === undefined ? {} : { advertiseUrl: o.advertiseUrl }),
    ...(o.forceTls === undefined ? {} : { forceTls: o.forceTls }),
    ...(o.tlsNames === undefined ? {} : { tlsNames: o.tlsNames }),
  });
  const telemetry = openTelemetry(o, clock, logger);
  const refreshMetrics = registerServerGauges(metrics, store, telemetry, () => later.scheduler);
  const peerCredential = new PeerCredential(store, clock, replicaId, auth !== undefined);
  const images = openImages(o, {
    ...{ store, clock, replicaId, logger, peerCredential, pki },
    replica: () => later.replica,
  });
  const logTables =
    o.dataDir === undefined || o.logTables === false
      ? undefined
      : await openLogTables(join(o.dataDir, 'logtables'), { clock, logger, ...(o.logTables ?? {}) });
  const parts = { guard, metrics, store, configs, events, serversSource, distributor, auth, adminToken, pki };
  return { ...parts, telemetry, refreshMetrics, peerCredential, images, logTables };
}

/** The server's close: once, whoever calls it; see RunningServer.close. */
function closeServer(p: {
  controller: AbortController;
  http: Server;
  loops: Promise<void>[];
  logTables: { tables: { close(): Promise<void> } } | undefined;
  peerCredential: PeerCredential;
  r: Replica;
  logger: Logger;
}): (options?: CloseOptions) => Promise<void> {
  const { controller, http, loops, logTables, peerCredential, r, logger } = p;
  let closed: Promise<void> | undefined;
  return (options: CloseOptions = {}) => {
    closed ??= (async () => {
      controller.abort();
      await closeHttp(http);
      await Promise.allSettled(loops);
      await logTables?.tables.close();
      if (options.release ?? true) {
        await peerCredential.revoke();
        await r.leave().catch((e: unknown) => logger.warn({ err: e }, 'could not leave the replica group'));
      }
    })();
    return closed;
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

/**
 * The host agent: registers its host, heartbeats, watches its own assignments and runs them through
 * a Runtime; tasks outlive the agent and are re-adopted when it comes back.
 */
import type { DabbaClient } from '../client/index.ts';
import { DabbaError, messageOf } from '../errors/index.ts';
import type { Clock, Logger, Watermark } from '../lib/index.ts';
import { backoffDelay, sleep, systemClock } from '../lib/index.ts';
import type { HostCapacity, Task } from '../model/index.ts';
import { keys } from '../model/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Runtime, TaskHandle } from '../runtime/index.ts';
import { ImagePuller } from './image-puller.ts';
import { detectCapacity } from './capacity.ts';
import { startEndpoint, type AgentEndpoint } from './endpoint.ts';
import { hostCsr, needsRenewal, saveHostCertificate, type HostCredentials } from './host-credentials.ts';
import { StatusReporter } from './status-reporter.ts';
import { TaskRunner } from './task-runner.ts';
import { TaskStateFiles } from './task-state-file.ts';
import { ClockSkew } from './clock-skew.ts';
import { RuntimeHealth } from './runtime-health.ts';
import { runHostCommands } from './host-commands.ts';
import { DiskConditions } from './disk-conditions.ts';
import { runImageGc } from './image-gc.ts';
import { HostHistoryRecorder, type HostHistoryOptions } from '../telemetry/hosthistory/index.ts';
import { join } from 'node:path';
import { LogShipper } from './log-shipper.ts';
import {
  DEFAULT_METRICS_INTERVAL_MS,
  runMetricsCollection,
  type MetricsCollectionOptions,
} from './metrics-collection.ts';
import { MeshHost } from '../mesh/host/index.ts';
import { HostConfigs, servePeer } from '../configdist/host/index.ts';
import { HostVolumes, runVolumeGc } from './volumes.ts';
import { routePeers } from './peer-routes.ts';

export interface AgentOptions {
  client: DabbaClient;
  runtime: Runtime;
  hostId: string;
  labels: Record<string, string>;
  dataDir: string;
  logger: Logger;
  capacity?: HostCapacity;
  clock?: Clock;
  /** Where the agent's own endpoint (logs) listens; port 0 picks a free one. */
  listenHost?: string;
  listenPort?: number;
  statsIntervalMs?: number;
  /** The host's image store (oci): images tasks need are fetched from the server into it. */
  images?: ImageStore;
  /**
   * The host's certificate (see host-credentials.ts): the client should already present it; the
   * endpoint then serves HTTPS with it, by default on the certificate's address, and the agent
   * renews it when a third of its lifetime is left.
   */
  credentials?: HostCredentials;
  /** How often the certificate's age is checked (ms, default one hour). */
  renewCheckMs?: number;
  /** Free space in the data dir below this is DiskPressure (default 64 MiB or 2%). */
  watermark?: Watermark;
  /** How often the data dir's free space is looked at (ms, default 2,000). */
  diskCheckMs?: number;
  /** How often the runtime's self-check runs (ms, default 30,000; two failures: RuntimeBroken). */
  runtimeCheckMs?: number;
  /**
   * The image store's budget: over it, images no task here uses are removed, oldest first (see
   * image-gc.ts). Only for a store of the agent's own; absent: no collection.
   */
  imageBudget?: { bytes: number; intervalMs?: number };
  /** Host history (atop style) in DATA_DIR/host-history: on by default; false turns it off. */
  hostHistory?: false | Pick<HostHistoryOptions, 'intervalMs' | 'budgetBytes' | 'maxAgeMs' | 'dir'>;
  /** Counter collection (docs/telemetry.md): interval (default 10 s; 0: off) and spool budget. */
  metrics?: MetricsCollectionOptions;
  /**
   * The service mesh: this host runs the mesh's proxy (HAProxy, in DATA_DIR/mesh) with listeners on
   * `address` from port `portBase`, and tasks get DABBA_UPSTREAM_<NAME>. Absent: no proxy.
   */
  mesh?: { address: string; portBase: number };
  /** How often volumes no longer recorded for this host are looked for and deleted (ms, default 30,000). */
  volumeGcMs?: number;
  /**
   * Config distribution: a content fetch with no byte for this long moves to the next upstream
   * (ms, default 10,000).
   */
  configIdleMs?: number;
  /** Where task config directories go (default DATA_DIR/configs; a tmpfs makes changes cheaper). */
  configDir?: string;
}

export interface RunningAgent {
  endpointUrl: string;
  /** Task ids this agent runs now. */
  tasks(): string[];
  /** Stops the agent's loops; tasks keep running (pass stopTasks to stop them too). */
  close(options?: { stopTasks?: boolean }): Promise<void>;
}

export async function startAgent(o: AgentOptions): Promise<RunningAgent> {
  const clock = o.clock ?? systemClock;
  const logger = o.logger;
  const controller = new AbortController();
  const signal = controller.signal;
  const reporter = new StatusReporter(o.client, logger);
  const memory = new TaskStateFiles(o.dataDir, logger);
  const disk = new DiskConditions({
    dataDir: o.dataDir,
    clock,
    logger,
    ...(o.watermark ? { watermark: o.watermark } : {}),
    ...(o.diskCheckMs === undefined ? {} : { intervalMs: o.diskCheckMs }),
  });
  const runtimeHealth = new RuntimeHealth({
    runtime: o.runtime,
    clock,
    logger,
    ...(o.runtimeCheckMs === undefined ? {} : { everyMs: o.runtimeCheckMs }),
  });
  const runners = new Map<string, TaskRunner>();
  const capacity = o.capacity ?? (await detectCapacity());
  // How volumes are made here (docs/volumes.md): registered with the host, shown by `dabba hosts`.
  const volumes = new HostVolumes(o.dataDir, logger.child({ part: 'volumes' }));
  const volumeSupport = await volumes.support();

  // What the previous agent left, from the runtime's recovery once registered (see the end), until
  // the first listing of assignments has dealt with it: running tasks to adopt, exited ones whose
  // traces are still there.
  const adoptable = new Map<string, TaskHandle>();
  const exitedLeft = new Set<string>();

  const history =
    o.hostHistory === false
      ? undefined
      : new HostHistoryRecorder({
          hostId: o.hostId,
          dir: join(o.dataDir, 'host-history'),
          ...o.hostHistory,
          logger,
          tasks: () =>
            [...runners.values()].map((r) => ({
              id: r.task.id,
              job: r.task.job,
              ...(r.status.pid === undefined ? {} : { pid: r.status.pid }),
            })),
        });

  const mesh =
    o.mesh === undefined
      ? undefined
      : new MeshHost({
          client: o.client,
          hostId: o.hostId,
          dir: join(o.dataDir, 'mesh'),
          address: o.mesh.address,
          portBase: o.mesh.portBase,
          logger,
          ...(o.credentials === undefined ? {} : { identity: o.credentials }),
        });
  const configs = new HostConfigs({
    client: o.client,
    hostId: o.hostId,
    dataDir: o.dataDir,
    logger: logger.child({ part: 'configs' }),
    ...(o.configIdleMs === undefined ? {} : { idleMs: o.configIdleMs }),
    ...(o.configDir === undefined ? {} : { configDir: o.configDir }),
  });
  const endpoint: AgentEndpoint = await startEndpoint(
    o.runtime,
    (id) => {
      const r = runners.get(id);
      if (r === undefined) return undefined;
      const lastExit = r.status.lastExit;
      // The day's gaps: the log shown may be this run's or the one before (kept across a restart).
      const logGaps = disk.logGaps();
      return {
        betweenRuns: r.betweenRuns,
        ...(lastExit ? { lastExit } : {}),
        ...(logGaps.length > 0 ? { logGaps } : {}),
      };
    },
    o.listenHost ?? o.credentials?.address ?? '127.0.0.1',
    o.listenPort ?? 0,
    o.credentials,
    logger,
    history && ((at, step) => history.snapshotAt(at, step)),
    mesh && (() => mesh.stats()),
    (req, res, pathname, query) => servePeer(configs.dist, req, res, pathname, query),
  );
  configs.dist.setSelfUrl(endpoint.url);

  const puller = o.images ? new ImagePuller(o.images, o.client, logger) : undefined;
  const shipper = new LogShipper({ client: o.client, runtime: o.runtime, hostId: o.hostId, logger });
  const deps = {
    configs,
    volumes,
    onRun: shipper.follow.bind(shipper),
    ...(mesh
      ? { extraEnv: (task: Task) => mesh.env(task.job), drainMs: (task: Task) => mesh.drainMs(task.job) }
      : {}),
    runtime: o.runtime,
    reporter,
    memory,
    clock,
    logger,
    hostId: o.hostId,
    ...(puller ? { ensureImage: (ref: string) => puller.ensure(ref) } : {}),
  };
  let lease = 0;
  // A runtime that gives tasks addresses (oci) takes the host's range of the task network.
  const wantSubnet = o.runtime.useNetwork !== undefined;
  let network: { subnet: string; taskNetwork?: string } | undefined;

  async function register(): Promise<number> {
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await o.client.registerHost({
          id: o.hostId,
          labels: o.labels,
          capacity,
          runtime: o.runtime.name,
          agentUrl: endpoint.url,
          ...(wantSubnet ? { wantSubnet: true } : {}),
          ...(o.runtime.seccomp === undefined ? {} : { seccomp: o.runtime.seccomp }),
          volumes: volumeSupport,
        });
        lease = r.lease;
        if (r.subnet !== undefined && network === undefined) {
          network = {
            subnet: r.subnet,
            ...(r.taskNetwork === undefined ? {} : { taskNetwork: r.taskNetwork }),
          };
        } else if (r.subnet !== undefined && r.subnet !== network?.subnet) {
          // The server keeps a host's range; a different one means the host record was replaced.
          logger.error(
            { subnet: r.subnet, inUse: network?.subnet },
            'the server gave this host another task range; the one in use stays until the agent restarts',
          );
        }
        logger.info({ host: o.hostId, lease: r.lease, subnet: r.subnet }, 'registered');
        return r.heartbeatMs;
      } catch (e) {
        if (signal.aborted) return 1000;
        // Not worth retrying: a bad registration, or a task network with no range left.
        if (e instanceof DabbaError && (e.code === 'DABBA_E_VALIDATION' || e.code === 'DABBA_E_NETWORK_FULL'))
          throw e;
        logger.warn({ err: messageOf(e) }, 'registration failed; retrying');
        await sleep(backoffDelay(attempt, { initialMs: 250, maxMs: 5000 }), signal);
      }
    }
  }

  const skew = new ClockSkew();
  async function heartbeats(initialMs: number): Promise<void> {
    let every = initialMs;
    while (!signal.aborted) {
      await sleep(every, signal);
      if (signal.aborted) return;
      try {
        const sentAt = skew.now();
        // The answer carries the server's time (hosts route), beyond the client's declared type.
        const r = (await o.client.heartbeat(o.hostId, lease, [
          ...disk.conditions(),
          ...skew.conditions(),
          ...runtimeHealth.conditions(),
        ])) as { ok: true; serverTime?: number };
        skew.observe(sentAt, skew.now(), r.serverTime);
      } catch (e) {
        if (signal.aborted) return;
        if (
          e instanceof DabbaError &&
          (e.code === 'DABBA_E_LEASE_NOT_FOUND' || e.code === 'DABBA_E_NOT_FOUND')
        ) {
          logger.warn('lease lost; registering again');
          every = await register();
        } else {
          logger.warn({ err: messageOf(e) }, 'heartbeat failed');
        }
      }
    }
  }

  /** Stops the task through its runner, which is dropped once the task is stopped and removed. */
  function stopAndForget(id: string, runner: TaskRunner): void {
    void runner.stop().then(() => {
      if (runners.get(id) === runner) runners.delete(id);
    });
  }

  function apply(task: Task | undefined, id: string): void {
    const runner = runners.get(id);
    if (task === undefined || task.desired === 'stop') {
      if (runner) {
        stopAndForget(id, runner);
      } else if (task !== undefined && (adoptable.has(id) || exitedLeft.has(id))) {
        // Left by the previous agent (running, or exited with its traces): stop and remove it
        // before saying 'stopped', as for any task, since the scheduler deletes the task on that word.
        adoptable.delete(id);
        exitedLeft.delete(id);
        const r = new TaskRunner(task, deps);
        runners.set(id, r);
        stopAndForget(id, r);
      } else if (task !== undefined) {
        // Assigned as stopped and never run here: say so, so the scheduler can remove it.
        reporter.report({
          id,
          job: task.job,
          host: o.hostId,
          state: 'stopped',
          healthy: false,
          ready: false,
          restarts: 0,
          reason: 'Stopped',
          updatedAt: clock.now(),
        });
      }
      return;
    }
    if (runner) return;
    // `at` (epoch ms, sub-ms precision) lets bench/oci-deploy.ts split deploy latency into parts.
    logger.debug({ task: id, at: performance.timeOrigin + performance.now() }, 'assignment seen');
    const r = new TaskRunner(task, deps);
    runners.set(id, r);
    const adopted = adoptable.get(id);
    adoptable.delete(id);
    r.start(adopted);
  }

  async function syncAssignments(): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      try {
        const { revision, tasks } = await o.client.assignments(o.hostId);
        const assigned = new Map(tasks.map((t) => [t.id, t]));
        for (const [id, t] of assigned) apply(t, id);
        for (const id of runners.keys()) if (!assigned.has(id)) apply(undefined, id);
        if (first) {
          first = false;
          // Survivors of a previous agent that are no longer assigned here: stop them.
          for (const [id] of adoptable) {
            logger.info({ task: id }, 'stopping unassigned task left from before');
            await o.runtime.stop(id, 10_000).catch(() => undefined);
            await o.runtime.remove(id).catch(() => undefined);
            await memory.remove(id);
          }
          adoptable.clear();
          for (const id of exitedLeft) {
            if (!assigned.has(id)) await o.runtime.remove(id).catch(() => undefined);
          }
          exitedLeft.clear();
        }
        const prefix = keys.hostAssignmentsPrefix(o.hostId);
        for await (const batch of o.client.watch(prefix, revision + 1, signal)) {
          for (const e of batch) {
            const id = e.key.slice(prefix.length);
            apply(e.type === 'put' ? (e.value as Task) : undefined, id);
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        logger.warn({ err: messageOf(e) }, 'assignment watch ended; re-listing');
        await sleep(500, signal);
      }
    }
  }

  /** Renews the host certificate (same key) when due, presenting the current one. */
  async function renewals(): Promise<void> {
    let creds = o.credentials;
    if (creds === undefined) return;
    while (!signal.aborted) {
      if (needsRenewal(creds, clock.now())) {
        try {
          const issued = await o.client.renewHostCertificate(o.hostId, await hostCsr(o.dataDir, o.hostId));
          creds = await saveHostCertificate(o.dataDir, issued);
          o.client.setClientCertificate(creds.certPem, creds.keyPem);
          endpoint.setCredentials(creds);
          mesh?.setIdentity(creds);
          logger.info({ notAfter: creds.notAfter.toISOString() }, 'host certificate renewed');
          continue;
        } catch (e) {
          if (signal.aborted) return;
          logger.warn({ err: messageOf(e) }, 'host certificate renewal failed; retrying');
          await sleep(Math.min(o.renewCheckMs ?? 3_600_000, 60_000), signal);
          continue;
        }
      }
      await sleep(o.renewCheckMs ?? 3_600_000, signal);
    }
  }

  async function stats(): Promise<void> {
    const every = o.statsIntervalMs ?? 10_000;
    while (!signal.aborted) {
      await sleep(every, signal);
      for (const r of runners.values()) await r.refreshUsage();
    }
  }

  // Register first: the host's task range (if the runtime takes one) must be known before the
  // runtime sets up its network to recover or start tasks. Heartbeats start at once, so a long
  // recovery does not make the host look down; assignments are read only once recovered.
  const loops: Promise<unknown>[] = [];
  try {
    const heartbeatMs = await register();
    if (network !== undefined) o.runtime.useNetwork?.(network.subnet, network.taskNetwork);
    else if (wantSubnet)
      logger.warn("the server gave no task range for this host; the runtime's default is used");
    loops.push(disk.run(signal), runtimeHealth.run(signal), heartbeats(heartbeatMs));
    loops.push(routePeers(o.client, o.hostId, network, logger, signal));
    const recovered = await o.runtime.recover();
    for (const h of recovered.running) adoptable.set(h.taskId, h);
    for (const e of recovered.exited) exitedLeft.add(e.taskId);
    logger.info({ running: adoptable.size, exited: recovered.exited.length }, 'runtime recovered tasks');
  } catch (e) {
    controller.abort();
    await Promise.allSettled(loops);
    await endpoint.close();
    throw e;
  }
  loops.push(reporter.run(signal), syncAssignments(), stats(), renewals());
  loops.push(runHostCommands({ ...o, checkRuntime: () => runtimeHealth.check() }, signal));
  if (o.images && o.imageBudget) {
    const gc = {
      images: o.images,
      budgetBytes: o.imageBudget.bytes,
      inUse: () => [...runners.values()].flatMap((r) => (r.task.spec.image ? [r.task.spec.image] : [])),
      logger,
      ...(o.imageBudget.intervalMs === undefined ? {} : { intervalMs: o.imageBudget.intervalMs }),
    };
    loops.push(runImageGc(gc, signal));
  }
  if (history) loops.push(history.run(signal));
  loops.push(shipper.run(signal));
  loops.push(
    runMetricsCollection({
      options: o.metrics ?? { intervalMs: DEFAULT_METRICS_INTERVAL_MS },
      client: o.client,
      runtime: o.runtime,
      hostId: o.hostId,
      dataDir: o.dataDir,
      runners: () => runners.values(),
      ...(mesh ? { extraSamples: () => mesh.samples() } : {}),
      clock,
      logger,
      signal,
    }).catch((e: unknown) => logger.error({ err: messageOf(e) }, 'metrics collection stopped')),
  );
  if (mesh) loops.push(mesh.run(signal));
  logger.info(
    { volumes: volumeSupport.kind, quota: volumeSupport.quota },
    `volumes: ${volumeSupport.summary}`,
  );
  loops.push(
    runVolumeGc(
      {
        volumes,
        client: o.client,
        hostId: o.hostId,
        tasks: () => [...runners.values()].map((r) => r.task),
        logger,
        ...(o.volumeGcMs === undefined ? {} : { intervalMs: o.volumeGcMs }),
      },
      signal,
    ),
  );
  loops.push(configs.run(signal));

  return {
    endpointUrl: endpoint.url,
    tasks: () => [...runners.keys()],
    async close(options = {}) {
      if (options.stopTasks) await Promise.all([...runners.values()].map((r) => r.stop()));
      // Otherwise the tasks keep running for the next agent: only our probes and timers end.
      else for (const r of runners.values()) r.detach();
      // Give pending statuses a moment to reach the server, but never hang on an absent one.
      await Promise.race([reporter.flushed(), sleep(2000)]);
      controller.abort();
      await Promise.allSettled(loops);
      await endpoint.close();
    },
  };
}

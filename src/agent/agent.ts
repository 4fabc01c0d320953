/**
 * The host agent: registers its host, heartbeats, watches its own assignments and runs them through
 * a Runtime; tasks outlive the agent and are re-adopted when it comes back.
 */
import type { DabbaClient } from '../client/index.ts';
import type { Clock, Logger, Watermark } from '../lib/index.ts';
import { systemClock, within } from '../lib/index.ts';
import type { HostCapacity } from '../model/index.ts';
import type { ImageStore } from '../image/index.ts';
import type { Runtime, TaskHandle } from '../runtime/index.ts';
import { ImagePuller } from './image-puller.ts';
import { detectCapacity } from './capacity.ts';
import type { HostCredentials } from './host-credentials.ts';
import { StatusReporter } from './status-reporter.ts';
import type { TaskRunner } from './task-runner.ts';
import { TaskStateFiles } from './task-state-file.ts';
import { RuntimeHealth } from './runtime-health.ts';
import { runHostCommands } from './host-commands.ts';
import { routePeers } from './peer-routes.ts';
import { DiskConditions } from './disk-conditions.ts';
import type { HostHistoryOptions } from '../telemetry/hosthistory/index.ts';
import { LogShipper } from './log-shipper.ts';
import type { MetricsCollectionOptions } from './metrics-collection.ts';
import { HostVolumes } from './volumes.ts';
import { newHostConfigs, newHostHistory, newMeshHost, openEndpoint, taskRunnerDeps } from './agent-parts.ts';
import { hostRegistration, type HostRegistration } from './host-registration.ts';
import { assignmentSync } from './assignment-sync.ts';
import { renewals } from './cert-renewal.ts';
import { runHostLoops } from './agent-loops.ts';

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
  hostHistory?: false | Partial<Pick<HostHistoryOptions, 'intervalMs' | 'budgetBytes' | 'maxAgeMs' | 'dir'>>;
  /** Counter collection (docs/telemetry.md): interval (default 10 s; 0: off) and spool budget. */
  metrics?: MetricsCollectionOptions;
  /**
   * The service mesh: this host runs the mesh's proxy (HAProxy, in DATA_DIR/mesh) with listeners on
   * `address` from port `portBase`, and tasks get DABBA_UPSTREAM_<NAME>. Absent: no proxy.
   * `taskAddress`: where tasks reach it, when not at `address` (containers: their bridge's gateway).
   */
  mesh?: { address: string; portBase: number; taskAddress?: () => Promise<string> };
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

  const history = newHostHistory(o, runners, logger);

  const mesh = newMeshHost(o, logger);
  const configs = newHostConfigs(o, logger);
  const endpoint = await openEndpoint(o, { runners, disk, history, mesh, configs, logger });
  configs.dist.setSelfUrl(endpoint.url);

  const puller = o.images ? new ImagePuller(o.images, o.client, logger) : undefined;
  const shipper = new LogShipper({ client: o.client, runtime: o.runtime, hostId: o.hostId, logger });
  const deps = taskRunnerDeps(o, {
    ...{ configs, volumes, shipper, mesh, reporter, memory, clock, logger, puller },
  });
  const registration = hostRegistration(o, {
    ...{ capacity, endpoint, volumeSupport, disk, runtimeHealth, logger, signal },
  });
  const syncAssignments = assignmentSync(o, {
    ...{ runners, adoptable, exitedLeft, deps, reporter, memory, clock, logger, signal },
  });

  // Register first: the host's task range (if the runtime takes one) must be known before the
  // runtime sets up its network to recover or start tasks. Heartbeats start at once, so a long
  // recovery does not make the host look down; assignments are read only once recovered.
  const loops: Promise<unknown>[] = [];
  try {
    await registerAndRecover(
      o,
      { registration, disk, runtimeHealth, adoptable, exitedLeft, logger, signal },
      loops,
    );
  } catch (e) {
    controller.abort();
    await Promise.allSettled(loops);
    await endpoint.close();
    throw e;
  }
  loops.push(
    ...runHostLoops(
      o,
      {
        ...{ runners, reporter, syncAssignments, history, shipper, mesh, volumes, volumeSupport, configs },
        renewals: () => renewals(o, { clock, endpoint, mesh, logger, signal }),
        clock,
        logger,
      },
      signal,
    ),
  );
  loops.push(runHostCommands({ ...o, checkRuntime: () => runtimeHealth.check() }, signal));

  return {
    endpointUrl: endpoint.url,
    tasks: () => [...runners.keys()],
    async close(options = {}) {
      if (options.stopTasks) await Promise.all([...runners.values()].map((r) => r.stop()));
      // Otherwise the tasks keep running for the next agent: only our probes and timers end.
      else for (const r of runners.values()) r.detach();
      // Give pending statuses a moment to reach the server, but never hang on an absent one.
      await within(reporter.flushed(), 2000);
      controller.abort();
      await Promise.allSettled(loops);
      await endpoint.close();
    },
  };
}

/**
 * Registers the host, hands its task range to the runtime, starts the heartbeats (and the checks
 * they carry), then recovers what the previous agent left. The loops started go into `loops`, also
 * when a later step fails, so that the caller can end them.
 */
async function registerAndRecover(
  o: AgentOptions,
  p: {
    registration: HostRegistration;
    disk: DiskConditions;
    runtimeHealth: RuntimeHealth;
    adoptable: Map<string, TaskHandle>;
    exitedLeft: Set<string>;
    logger: Logger;
    signal: AbortSignal;
  },
  loops: Promise<unknown>[],
): Promise<void> {
  const { registration, disk, runtimeHealth, adoptable, exitedLeft, logger, signal } = p;
  const heartbeatMs = await registration.register();
  const network = registration.network();
  if (network !== undefined) o.runtime.useNetwork?.(network.subnet, network.taskNetwork);
  else if (registration.wantSubnet)
    logger.warn("the server gave no task range for this host; the runtime's default is used");
  loops.push(disk.run(signal), runtimeHealth.run(signal), registration.heartbeats(heartbeatMs));
  loops.push(routePeers(o.client, o.hostId, network, logger, signal));
  const recovered = await o.runtime.recover();
  for (const h of recovered.running) adoptable.set(h.taskId, h);
  for (const e of recovered.exited) exitedLeft.add(e.taskId);
  logger.info({ running: adoptable.size, exited: recovered.exited.length }, 'runtime recovered tasks');
}

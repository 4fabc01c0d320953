/**
 * The parts the agent makes before it registers: the optional host services (host history, the
 * mesh's proxy) and the endpoint that serves logs, exec, history, mesh stats and config peers.
 */
import { join } from 'node:path';
import type { DabbaClient } from '../client/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import type { Runtime } from '../runtime/index.ts';
import type { Task } from '../model/index.ts';
import { HostHistoryRecorder, type HostHistoryOptions } from '../telemetry/hosthistory/index.ts';
import { MeshHost } from '../mesh/host/index.ts';
import { HostConfigs, servePeer } from '../configdist/host/index.ts';
import type { DiskConditions } from './disk-conditions.ts';
import { startEndpoint, type AgentEndpoint } from './endpoint.ts';
import type { HostCredentials } from './host-credentials.ts';
import type { TaskRunner, TaskRunnerDeps } from './task-runner.ts';
import type { ImagePuller } from './image-puller.ts';
import type { LogShipper } from './log-shipper.ts';
import type { StatusReporter } from './status-reporter.ts';
import type { TaskStateFiles } from './task-state-file.ts';
import type { HostVolumes } from './volumes.ts';

/** The host history recorder (on by default), over the tasks `runners` holds. */
export function newHostHistory(
  o: {
    hostId: string;
    dataDir: string;
    hostHistory?:
      false | Partial<Pick<HostHistoryOptions, 'intervalMs' | 'budgetBytes' | 'maxAgeMs' | 'dir'>>;
  },
  runners: Map<string, TaskRunner>,
  logger: Logger,
): HostHistoryRecorder | undefined {
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
  return history;
}

/** The mesh's proxy on this host, when the agent is given a mesh address. */
export function newMeshHost(
  o: {
    client: DabbaClient;
    hostId: string;
    dataDir: string;
    mesh?: { address: string; portBase: number; taskAddress?: () => Promise<string> };
    credentials?: HostCredentials;
  },
  logger: Logger,
): MeshHost | undefined {
  const mesh =
    o.mesh === undefined
      ? undefined
      : new MeshHost({
          client: o.client,
          hostId: o.hostId,
          dir: join(o.dataDir, 'mesh'),
          address: o.mesh.address,
          portBase: o.mesh.portBase,
          ...(o.mesh.taskAddress === undefined ? {} : { taskAddress: o.mesh.taskAddress }),
          logger,
          ...(o.credentials === undefined ? {} : { identity: o.credentials }),
        });
  return mesh;
}

/** What this host runs of config distribution (docs/config.md). */
export function newHostConfigs(
  o: { client: DabbaClient; hostId: string; dataDir: string; configIdleMs?: number; configDir?: string },
  logger: Logger,
): HostConfigs {
  const configs = new HostConfigs({
    client: o.client,
    hostId: o.hostId,
    dataDir: o.dataDir,
    logger: logger.child({ part: 'configs' }),
    ...(o.configIdleMs === undefined ? {} : { idleMs: o.configIdleMs }),
    ...(o.configDir === undefined ? {} : { configDir: o.configDir }),
  });
  return configs;
}

/** Starts the agent's endpoint (HTTPS with the host certificate, on its address by default). */
export async function openEndpoint(
  o: { runtime: Runtime; listenHost?: string; listenPort?: number; credentials?: HostCredentials },
  p: {
    runners: Map<string, TaskRunner>;
    disk: DiskConditions;
    history: HostHistoryRecorder | undefined;
    mesh: MeshHost | undefined;
    configs: HostConfigs;
    logger: Logger;
  },
): Promise<AgentEndpoint> {
  const { runners, disk, history, mesh, configs, logger } = p;
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
  return endpoint;
}

/** What every task runner gets: the runtime and the host's parts (configs, volumes, logs, mesh, images). */
export function taskRunnerDeps(
  o: { runtime: Runtime; hostId: string },
  p: {
    configs: HostConfigs;
    volumes: HostVolumes;
    shipper: LogShipper;
    mesh: MeshHost | undefined;
    reporter: StatusReporter;
    memory: TaskStateFiles;
    clock: Clock;
    logger: Logger;
    puller: ImagePuller | undefined;
  },
): TaskRunnerDeps {
  const { configs, volumes, shipper, mesh, reporter, memory, clock, logger, puller } = p;
  const deps: TaskRunnerDeps = {
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
  return deps;
}

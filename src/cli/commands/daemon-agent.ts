/** `dabba agent`: the host agent, which registers this host and runs the tasks assigned to it. */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import {
  startDaemon,
  parseCapacity,
  MESH_PORTS_HELP,
  parseMeshPorts,
  parseWatermark,
  parseImageBudget,
  parseMetrics,
  parseHostHistory,
  HOST_HISTORY_HELP,
  METRICS_INTERVAL_HELP,
  METRICS_SPOOL_HELP,
  MIN_FREE_PERCENT_HELP,
  AGENT_MIN_FREE_HELP,
  parseDriver,
  parseOciRuntime,
  parseLabels,
  runUntilInterrupted,
} from './daemon-flags.ts';

interface AgentFlags {
  imageBudget?: string;
  metricsInterval: string;
  metricsSpool: string;
  meshPorts?: string;
  minFree: string;
  minFreePercent: string;
  server: string;
  joinToken?: string;
  dataDir: string;
  configDir?: string;
  hostId?: string;
  label: string[];
  pool?: string;
  driver: string;
  listen?: string;
  ociRuntime?: string;
  bridge?: string;
  subnet?: string;
  advertise?: string;
  cpu?: string;
  memory?: string;
  caPin?: string;
  hostHistory?: string;
}

/** Registers `dabba agent`. */
export function agentCommand(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('run the host agent: register this host and run the tasks assigned to it')
    .requiredOption('--server <url>', 'server address(es), comma-separated')
    .requiredOption('--data-dir <dir>', 'where task state and logs live')
    .option(
      '--config-dir <dir>',
      "where tasks' config files are written (default DATA_DIR/configs; a tmpfs makes config changes cheaper)",
    )
    .option('--host-id <id>', 'host id (default: the hostname)')
    .option(
      '--join-token <token>',
      'join token (dabba token create NAME --role agent; default $DABBA_JOIN_TOKEN): exchanged for a host credential kept in the data dir',
    )
    .option(
      '--label <k=v>',
      'host label (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option(
      '--pool <name>',
      'the pool the host belongs to (the label pool=NAME; default online): docs/elastic.md',
    )
    .option('--driver <driver>', 'task runtime: oci, process or auto', 'auto')
    .option('--listen <host:port>', "address of the agent's own endpoint (logs)")
    .option('--oci-runtime <name>', 'OCI runtime for containers: crun (the default where installed) or runc')
    .option('--bridge <name>', 'bridge of the task network (oci; default dabba0)')
    .option(
      '--subnet <cidr>',
      "this host's private task subnet (oci; default: the range the server gives the host)",
    )
    .option(
      '--advertise <ip>',
      "address this host's tasks are reachable at (process runtime; default 127.0.0.1)",
    )
    .option(
      '--ca-pin <sha256:hex>',
      'fetch the cluster CA from the server and accept it only if its key has this pin (as printed by `dabba server`); or give the CA itself with --ca FILE',
    )
    .option('--cpu <cores>', 'CPU offered to tasks (default: all cores)')
    .option('--memory <size>', 'memory offered to tasks, e.g. 4Gi (default: all memory)')
    .option('--min-free <size>', AGENT_MIN_FREE_HELP, '64Mi')
    .option('--min-free-percent <n>', MIN_FREE_PERCENT_HELP, '2')
    .option(
      '--image-budget <size>',
      'size the image store may reach before images no task here uses are removed, oldest first (default: a quarter of its file system, at most 10Gi)',
    )
    .option('--metrics-interval <dur>', METRICS_INTERVAL_HELP, '10s')
    .option('--metrics-spool <size>', METRICS_SPOOL_HELP, '64Mi')
    .option('--mesh-ports <port>', MESH_PORTS_HELP)
    .option('--host-history <interval>', HOST_HISTORY_HELP, '5s')
    .action((opts: AgentFlags) => runAgent(ctx, opts));
}

async function runAgent(ctx: CliContext, opts: AgentFlags): Promise<void> {
  if (opts.caPin !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.caPin))
    throw new CliError(`--ca-pin "${opts.caPin}" must be sha256:<64 hex digits>`, EXIT.USAGE);
  const daemon = await startDaemon(() =>
    ctx.daemons.agent(
      {
        servers: opts.server,
        ...((opts.joinToken ?? ctx.env['DABBA_JOIN_TOKEN'])
          ? { joinToken: opts.joinToken ?? ctx.env['DABBA_JOIN_TOKEN'] ?? '' }
          : {}),
        dataDir: resolve(opts.dataDir),
        ...(opts.configDir === undefined ? {} : { configDir: resolve(opts.configDir) }),
        labels: parseLabels([...opts.label, ...(opts.pool === undefined ? [] : [`pool=${opts.pool}`])]),
        driver: parseDriver(opts.driver),
        ...parseOciRuntime(opts.ociRuntime),
        ...(opts.bridge === undefined ? {} : { bridge: opts.bridge }),
        ...(opts.subnet === undefined ? {} : { subnet: opts.subnet }),
        ...(opts.advertise === undefined ? {} : { advertise: opts.advertise }),
        ...parseCapacity(opts.cpu, opts.memory),
        ...parseWatermark(opts.minFree, opts.minFreePercent),
        ...parseImageBudget(opts.imageBudget),
        ...parseMetrics(opts.metricsInterval, opts.metricsSpool),
        ...(opts.hostId === undefined ? {} : { hostId: opts.hostId }),
        ...(opts.listen === undefined ? {} : { listen: opts.listen }),
        ...(ctx.tls?.ca === undefined ? {} : { caPem: ctx.tls.ca }),
        ...(opts.caPin === undefined ? {} : { caPin: opts.caPin }),
        ...parseMeshPorts(opts.meshPorts),
        ...parseHostHistory(opts.hostHistory),
      },
      ctx.signal,
    ),
  );
  ctx.err.write(`dabba agent: endpoint at ${daemon.url}\n`);
  for (const n of daemon.notes) ctx.err.write(`  ${n}\n`);
  await runUntilInterrupted(ctx, daemon);
}

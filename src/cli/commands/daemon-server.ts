/** `dabba server`: the control plane (API and scheduler). */
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { parseDuration } from '../../lib/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import {
  startDaemon,
  DEFAULT_LISTEN,
  parseListen,
  parseTimeout,
  parseTaskNetworkFlags,
  parseWatermark,
  MIN_FREE_HELP,
  MIN_FREE_PERCENT_HELP,
  TASK_NETWORK_HELP,
  HOST_SUBNET_HELP,
  runUntilInterrupted,
} from './daemon-flags.ts';

interface ServerFlags {
  configFanout: string;
  adminTokenFile?: string;
  dataDir: string;
  listen: string;
  tls?: boolean;
  tlsName: string[];
  minFree: string;
  minFreePercent: string;
  store?: string;
  hostTimeout: string;
  replicaId?: string;
  shards: string;
  leaseTtl: string;
  advertiseUrl?: string;
  taskNetwork?: string;
  hostSubnetSize?: string;
}

/** Registers `dabba server`. */
export function serverCommand(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .description('run the control plane (API and scheduler)')
    .requiredOption('--data-dir <dir>', 'where the embedded store lives')
    .option('--listen <host:port>', 'API address', DEFAULT_LISTEN)
    .option('--store <url>', 'store: sqlite (default, in --data-dir) or etcd://H:P,H:P')
    .option('--host-timeout <duration>', 'a host without heartbeats for this long is down', '10s')
    .option('--replica-id <id>', 'this replica among several on one store (default: the hostname)')
    .option('--shards <n>', 'scheduler shards; the same on every replica', '16')
    .option(
      '--lease-ttl <duration>',
      "a dead replica's shards move to the others after about this long",
      '5s',
    )
    .option('--advertise-url <url>', 'URL other replicas and `dabba servers` show for this one')
    .option('--task-network <cidr>', TASK_NETWORK_HELP)
    .option('--host-subnet-size <bits>', HOST_SUBNET_HELP)
    .option(
      '--admin-token-file <file>',
      'bootstrap a fresh store with this admin token (default: a new one in DATA_DIR/admin.token)',
    )
    .option('--tls', 'serve HTTPS on loopback too (beyond loopback the server always does)')
    .option(
      '--tls-name <name>',
      'another DNS name or IP for the server certificate (repeatable)',
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option('--min-free <size>', MIN_FREE_HELP, '64Mi')
    .option('--min-free-percent <n>', MIN_FREE_PERCENT_HELP, '2')
    .option(
      '--config-fanout <n>',
      'config distribution trees: children per host at most (0: a star, every host from the server)',
      '3',
    )
    .action((opts: ServerFlags) => runServer(ctx, opts));
}

async function runServer(ctx: CliContext, opts: ServerFlags): Promise<void> {
  const { host, port } = parseListen(opts.listen);
  const shards = Number(opts.shards);
  if (!Number.isInteger(shards) || shards < 1 || shards > 4096) {
    throw new CliError(`--shards "${opts.shards}" must be a whole number from 1 to 4096`, EXIT.USAGE);
  }
  const configFanout = Number(opts.configFanout);
  if (!Number.isInteger(configFanout) || configFanout < 0 || configFanout > 1000)
    throw new CliError(
      `--config-fanout "${opts.configFanout}" must be a whole number from 0 to 1000`,
      EXIT.USAGE,
    );
  const ttl = parseDuration(opts.leaseTtl);
  if (!ttl.ok || ttl.ms < 1000 || ttl.ms > 300_000) {
    throw new CliError(`--lease-ttl "${opts.leaseTtl}" must be a duration from 1s to 5m`, EXIT.USAGE);
  }
  if (opts.replicaId !== undefined && !/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/.test(opts.replicaId)) {
    throw new CliError(`--replica-id "${opts.replicaId}" must be letters, digits, dots, dashes`, EXIT.USAGE);
  }
  if (opts.advertiseUrl !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(opts.advertiseUrl)) {
    throw new CliError(`--advertise-url "${opts.advertiseUrl}" must be https://HOST:PORT`, EXIT.USAGE);
  }
  for (const n of opts.tlsName)
    if (!/^[A-Za-z0-9.:-]{1,253}$/.test(n))
      throw new CliError(`--tls-name "${n}" must be a DNS name or an IP address`, EXIT.USAGE);
  const daemon = await startDaemon(() =>
    ctx.daemons.server(
      {
        dataDir: resolve(opts.dataDir),
        host,
        port,
        shards,
        configFanout,
        leaseTtlSeconds: Math.round(ttl.ms / 1000),
        ...(opts.replicaId === undefined ? {} : { replicaId: opts.replicaId }),
        ...(opts.advertiseUrl === undefined ? {} : { advertiseUrl: opts.advertiseUrl.replace(/\/$/, '') }),
        hostTimeoutSeconds: parseTimeout(opts.hostTimeout),
        ...(opts.store === undefined ? {} : { store: opts.store }),
        ...(opts.adminTokenFile === undefined ? {} : { adminTokenFile: resolve(opts.adminTokenFile) }),
        ...(opts.tls === true ? { forceTls: true } : {}),
        ...(opts.tlsName.length > 0 ? { tlsNames: opts.tlsName } : {}),
        ...parseTaskNetworkFlags(opts.taskNetwork, opts.hostSubnetSize),
        ...parseWatermark(opts.minFree, opts.minFreePercent),
      },
      ctx.signal,
    ),
  );
  ctx.err.write(`dabba server: API at ${daemon.url}\n`);
  for (const n of daemon.notes) ctx.err.write(`  ${n}\n`);
  await runUntilInterrupted(ctx, daemon);
}

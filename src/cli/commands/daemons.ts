import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { DabbaError } from '../../errors/index.ts';
import { parseDuration, parseSize, type Watermark } from '../../lib/index.ts';
import { parseTaskNetwork } from '../../model/index.ts';
import { CliError } from '../cli-error.ts';
import type { CliContext, Daemon } from '../context.ts';
import { EXIT } from '../exit-codes.ts';
import { jobFileFor, loadJobFile } from '../job-loader.ts';
import { waitForRollout } from './deploy.ts';
import { credentialsPath, saveCredentials } from '../credentials.ts';

export const DEFAULT_LISTEN = '127.0.0.1:7070';

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new CliError(`--listen "${text}" is not HOST:PORT (for example 127.0.0.1:7070)`, EXIT.USAGE);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

function parseCapacity(
  cpu: string | undefined,
  memory: string | undefined,
): { cpu?: number; memoryBytes?: number } {
  const out: { cpu?: number; memoryBytes?: number } = {};
  if (cpu !== undefined) {
    const n = Number(cpu);
    if (!Number.isFinite(n) || n <= 0 || n > 4096)
      throw new CliError(`--cpu "${cpu}" must be a number of cores above 0`, EXIT.USAGE);
    out.cpu = n;
  }
  if (memory !== undefined) {
    const r = parseSize(memory);
    if (!r.ok || r.bytes < 1024 * 1024)
      throw new CliError(`--memory "${memory}" must be a size such as 4Gi`, EXIT.USAGE);
    out.memoryBytes = r.bytes;
  }
  return out;
}

function parseTimeout(text: string): number {
  const r = parseDuration(text);
  if (!r.ok || r.ms < 1000 || r.ms > 3_600_000) {
    throw new CliError(`--host-timeout "${text}" must be a duration from 1s to 1h (e.g. 10s)`, EXIT.USAGE);
  }
  return Math.round(r.ms / 1000);
}

/** `--task-network` and `--host-subnet-size`, checked as the server checks them (a usage error here). */
function parseTaskNetworkFlags(
  cidr: string | undefined,
  size: string | undefined,
): { taskNetwork?: string; hostSubnetSize?: number } {
  if (cidr === undefined && size === undefined) return {};
  const bits = size === undefined ? undefined : Number(size.replace(/^\//, ''));
  if (bits !== undefined && !Number.isInteger(bits))
    throw new CliError(`--host-subnet-size "${size}" must be a prefix length such as 24`, EXIT.USAGE);
  try {
    const n = parseTaskNetwork(cidr, bits);
    return { taskNetwork: n.cidr, hostSubnetSize: n.hostPrefix };
  } catch (e) {
    if (e instanceof DabbaError) throw new CliError(e.message, EXIT.USAGE);
    throw e;
  }
}

const MESH_PORTS_HELP =
  "run the service mesh's proxy (HAProxy) on this host, its listeners on loopback from this port (process runtime; docs/mesh.md)";

function parseMeshPorts(v: string | undefined): { meshPortBase?: number } {
  if (v === undefined) return {};
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 64_000)
    throw new CliError(`--mesh-ports "${v}" must be a port from 1024 to 64000`, EXIT.USAGE);
  return { meshPortBase: n };
}

/** `--min-free` and `--min-free-percent`: the storage watermark (docs/operations.md). */
function parseWatermark(bytes: string, percent: string): { watermark: Watermark } {
  const size = parseSize(bytes);
  if (!size.ok) throw new CliError(`--min-free: ${size.error}`, EXIT.USAGE);
  const pct = Number(percent);
  if (!Number.isFinite(pct) || pct < 0 || pct > 50) {
    throw new CliError(`--min-free-percent "${percent}" must be a number from 0 to 50`, EXIT.USAGE);
  }
  return { watermark: { minFreeBytes: size.bytes, minFreePercent: pct } };
}

/** `--image-budget SIZE` (a size of at least 1Mi). */
function parseImageBudget(text: string | undefined): { imageBudgetBytes?: number } {
  if (text === undefined) return {};
  const size = parseSize(text);
  if (!size.ok) throw new CliError(`--image-budget: ${size.error}`, EXIT.USAGE);
  if (size.bytes < 2 ** 20) throw new CliError(`--image-budget "${text}" must be at least 1Mi`, EXIT.USAGE);
  return { imageBudgetBytes: size.bytes };
}

/** `--metrics-interval` and `--metrics-spool`: counter collection (docs/telemetry.md). */
function parseMetrics(
  interval: string,
  spool: string,
): { metrics: { intervalMs: number; spoolBytes: number } } {
  const d = interval === '0' ? { ok: true as const, ms: 0 } : parseDuration(interval);
  if (!d.ok) throw new CliError(`--metrics-interval: ${d.error}`, EXIT.USAGE);
  if (d.ms !== 0 && d.ms < 100)
    throw new CliError('--metrics-interval must be at least 100ms (or 0: off)', EXIT.USAGE);
  const size = parseSize(spool);
  if (!size.ok) throw new CliError(`--metrics-spool: ${size.error}`, EXIT.USAGE);
  if (size.bytes < 1024 * 1024) throw new CliError('--metrics-spool must be at least 1Mi', EXIT.USAGE);
  return { metrics: { intervalMs: d.ms, spoolBytes: size.bytes } };
}

const METRICS_INTERVAL_HELP =
  "how often the agent collects the host's figures and its tasks' counters (0: off)";
const METRICS_SPOOL_HELP =
  'disk budget of the spool that keeps collected batches until the server has them (oldest dropped beyond it)';

const MIN_FREE_HELP = 'below this much free space in the data dir, new job versions and images are refused';
const MIN_FREE_PERCENT_HELP = 'the same, as a percentage of the file system';
const AGENT_MIN_FREE_HELP = 'below this much free space in the data dir the host reports DiskPressure';

const TASK_NETWORK_HELP = 'private range hosts get their task ranges from (oci; default 10.88.0.0/16)';
const HOST_SUBNET_HELP = "prefix length of each host's task range (default 24: 254 addresses)";

function parseDriver(text: string): 'oci' | 'process' | 'auto' {
  if (text === 'oci' || text === 'process' || text === 'auto') return text;
  throw new CliError(`--driver must be oci, process or auto (got "${text}")`, EXIT.USAGE);
}

function parseOciRuntime(text: string | undefined): { ociRuntime?: 'runc' | 'crun' } {
  if (text === undefined) return {};
  if (text === 'runc' || text === 'crun') return { ociRuntime: text };
  throw new CliError(`--oci-runtime must be runc or crun (got "${text}")`, EXIT.USAGE);
}

/**
 * What to try once `dabba dev` is up: commands that work as printed, with this cluster's address,
 * job and one of its tasks (the README's quick start lists the same ones).
 */
function tryNext(
  url: string,
  job: string | undefined,
  task: string | undefined,
  deploy: string | undefined,
  file: string | undefined,
  caFile: string | undefined,
): string {
  const path = deploy ?? 'examples/hello';
  const lines = [
    '',
    'try next (in another terminal):',
    `  export DABBA_ADDR=${url}`,
    ...(caFile === undefined ? [] : [`  export DABBA_CA=${caFile}`]),
    '  bin/dabba status                 # jobs',
    ...(job ? [`  bin/dabba status ${job}           # its tasks, pids and addresses`] : []),
    `  bin/dabba logs ${task ?? 'TASK'} -f    # a task's output (Ctrl-C to stop)`,
    `  bin/dabba deploy ${path}${file !== undefined && file !== path ? `   # this is ${file}: edit its GREETING first for a rolling update` : ''}`,
    ...(task ? [`  bin/dabba exec ${task} -- cat /etc/hostname   # a command inside a task`] : []),
    ...(job ? [`  bin/dabba stop ${job}`] : []),
    'Ctrl-C stops the server and agent; tasks keep running and are picked up by the next `dabba dev`.',
    '',
  ];
  return lines.join('\n');
}

function parseLabels(list: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i <= 0) throw new CliError(`--label "${l}" is not KEY=VALUE`, EXIT.USAGE);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return labels;
}

async function runUntilInterrupted(ctx: CliContext, daemon: Daemon): Promise<void> {
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  ctx.err.write('shutting down\n');
  await daemon.close();
}

export function daemonCommands(program: Command, ctx: CliContext): void {
  program
    .command('dev')
    .description('run a server and one local agent in this process, on an embedded store')
    .option('--data-dir <dir>', 'where state, logs and task data live', '.dabba/dev')
    .option('--listen <host:port>', 'API address (loopback by default)', DEFAULT_LISTEN)
    .option(
      '--driver <driver>',
      'task runtime: oci, process or auto (oci when root and runc are available)',
      'auto',
    )
    .option('--oci-runtime <name>', 'OCI runtime for containers: crun (the default where installed) or runc')
    .option('--deploy <file|dir>', "deploy this job file (or a folder's job.RUNTIME.yaml / job.yaml) once up")
    .option('--task-network <cidr>', TASK_NETWORK_HELP)
    .option('--host-subnet-size <bits>', HOST_SUBNET_HELP)
    .option('--no-login', "do not store the admin token in the user's credentials (~/.config/dabba)")
    .option('--min-free <size>', MIN_FREE_HELP, '64Mi')
    .option('--min-free-percent <n>', MIN_FREE_PERCENT_HELP, '2')
    .option('--metrics-interval <dur>', METRICS_INTERVAL_HELP, '10s')
    .option('--metrics-spool <size>', METRICS_SPOOL_HELP, '64Mi')
    .option('--mesh-ports <port>', MESH_PORTS_HELP)
    .action(
      async (opts: {
        metricsInterval: string;
        metricsSpool: string;
        meshPorts?: string;
        dataDir: string;
        listen: string;
        driver: string;
        login?: boolean;
        minFree: string;
        minFreePercent: string;
        deploy?: string;
        ociRuntime?: string;
        taskNetwork?: string;
        hostSubnetSize?: string;
      }) => {
        const { host, port } = parseListen(opts.listen);
        const driver = parseDriver(opts.driver);
        const daemon = await ctx.daemons.dev(
          // Absolute from here on: nothing below depends on the working directory.
          {
            dataDir: resolve(opts.dataDir),
            host,
            port,
            driver,
            ...parseOciRuntime(opts.ociRuntime),
            ...parseTaskNetworkFlags(opts.taskNetwork, opts.hostSubnetSize),
            ...parseWatermark(opts.minFree, opts.minFreePercent),
            ...parseMetrics(opts.metricsInterval, opts.metricsSpool),
            ...parseMeshPorts(opts.meshPorts),
          },
          ctx.signal,
        );
        let job;
        let jobFile: string | undefined;
        try {
          jobFile = opts.deploy === undefined ? undefined : await jobFileFor(opts.deploy, daemon.runtime);
          job = jobFile === undefined ? undefined : await loadJobFile(jobFile);
        } catch (e) {
          await daemon.close();
          throw e;
        }
        ctx.err.write(`dabba dev: API at ${daemon.url} (data in ${opts.dataDir})\n`);
        for (const n of daemon.notes) ctx.err.write(`  ${n}\n`);
        const ca = daemon.caFile === undefined ? undefined : await readFile(daemon.caFile, 'utf8');
        // The local user is logged in to it (with its CA when it serves HTTPS), so that
        // `bin/dabba status` works as is.
        if (daemon.adminToken !== undefined && opts.login !== false) {
          const path = credentialsPath(ctx.env);
          try {
            await saveCredentials(path, daemon.url, {
              token: daemon.adminToken,
              ...(ca === undefined ? {} : { ca }),
              savedAt: Date.now(),
            });
            ctx.err.write(`  credentials: stored for ${daemon.url} in ${path}\n`);
          } catch (e) {
            ctx.err.write(
              `  credentials: not stored (${(e as Error).message}); use --token or DABBA_TOKEN\n`,
            );
          }
        }
        let task: string | undefined;
        if (job) {
          const client = ctx.client(daemon.url, {
            ...(daemon.adminToken === undefined ? {} : { token: daemon.adminToken }),
            ...(ca === undefined ? {} : { ca }),
          });
          const put = await client.putJob(job.spec.name, job.userForm);
          ctx.err.write(`deploying ${job.spec.name} version ${put.version} from ${jobFile ?? ''}\n`);
          const r = await waitForRollout(
            client,
            job.spec.name,
            put.version,
            ctx,
            (s) => ctx.err.write(s),
            job.spec.update.deadlineMs,
          );
          if (!r.ok) ctx.err.write(`deploy failed: ${r.message}\n`);
          task = r.view.tasks.find((t) => t.desired === 'run' && t.state === 'running')?.id;
        }
        ctx.err.write(tryNext(daemon.url, job?.spec.name, task, opts.deploy, jobFile, daemon.caFile));
        await runUntilInterrupted(ctx, daemon);
      },
    );

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
    .action(
      async (opts: {
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
      }) => {
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
          throw new CliError(
            `--replica-id "${opts.replicaId}" must be letters, digits, dots, dashes`,
            EXIT.USAGE,
          );
        }
        if (opts.advertiseUrl !== undefined && !/^https?:\/\/[^/\s]+\/?$/.test(opts.advertiseUrl)) {
          throw new CliError(`--advertise-url "${opts.advertiseUrl}" must be https://HOST:PORT`, EXIT.USAGE);
        }
        for (const n of opts.tlsName)
          if (!/^[A-Za-z0-9.:-]{1,253}$/.test(n))
            throw new CliError(`--tls-name "${n}" must be a DNS name or an IP address`, EXIT.USAGE);
        const daemon = await ctx.daemons.server(
          {
            dataDir: resolve(opts.dataDir),
            host,
            port,
            shards,
            configFanout,
            leaseTtlSeconds: Math.round(ttl.ms / 1000),
            ...(opts.replicaId === undefined ? {} : { replicaId: opts.replicaId }),
            ...(opts.advertiseUrl === undefined
              ? {}
              : { advertiseUrl: opts.advertiseUrl.replace(/\/$/, '') }),
            hostTimeoutSeconds: parseTimeout(opts.hostTimeout),
            ...(opts.store === undefined ? {} : { store: opts.store }),
            ...(opts.adminTokenFile === undefined ? {} : { adminTokenFile: resolve(opts.adminTokenFile) }),
            ...(opts.tls === true ? { forceTls: true } : {}),
            ...(opts.tlsName.length > 0 ? { tlsNames: opts.tlsName } : {}),
            ...parseTaskNetworkFlags(opts.taskNetwork, opts.hostSubnetSize),
            ...parseWatermark(opts.minFree, opts.minFreePercent),
          },
          ctx.signal,
        );
        ctx.err.write(`dabba server: API at ${daemon.url}\n`);
        for (const n of daemon.notes) ctx.err.write(`  ${n}\n`);
        await runUntilInterrupted(ctx, daemon);
      },
    );

  program
    .command('agent')
    .description('run the host agent: register this host and run the tasks assigned to it')
    .requiredOption('--server <url>', 'server address(es), comma-separated')
    .requiredOption('--data-dir <dir>', 'where task state and logs live')
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
    .action(
      async (opts: {
        imageBudget?: string;
        metricsInterval: string;
        metricsSpool: string;
        meshPorts?: string;
        minFree: string;
        minFreePercent: string;
        server: string;
        joinToken?: string;
        dataDir: string;
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
      }) => {
        if (opts.caPin !== undefined && !/^sha256:[0-9a-f]{64}$/.test(opts.caPin))
          throw new CliError(`--ca-pin "${opts.caPin}" must be sha256:<64 hex digits>`, EXIT.USAGE);
        const daemon = await ctx.daemons.agent(
          {
            servers: opts.server,
            ...((opts.joinToken ?? ctx.env['DABBA_JOIN_TOKEN'])
              ? { joinToken: opts.joinToken ?? ctx.env['DABBA_JOIN_TOKEN'] ?? '' }
              : {}),
            dataDir: resolve(opts.dataDir),
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
          },
          ctx.signal,
        );
        ctx.err.write(`dabba agent: endpoint at ${daemon.url}\n`);
        for (const n of daemon.notes) ctx.err.write(`  ${n}\n`);
        await runUntilInterrupted(ctx, daemon);
      },
    );
}

/** `dabba dev`: a server and one local agent in this process, on an embedded store; optionally deploys a job and prints what to try next. */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { jobFileFor, loadJobFile } from '../job-loader.ts';
import { waitForRollout } from './deploy.ts';
import { credentialsPath, saveCredentials } from '../credentials.ts';
import {
  startDaemon,
  DEFAULT_LISTEN,
  parseListen,
  parseTaskNetworkFlags,
  MESH_PORTS_HELP,
  parseMeshPorts,
  parseWatermark,
  parseMetrics,
  METRICS_INTERVAL_HELP,
  METRICS_SPOOL_HELP,
  MIN_FREE_HELP,
  MIN_FREE_PERCENT_HELP,
  TASK_NETWORK_HELP,
  HOST_SUBNET_HELP,
  parseDriver,
  parseOciRuntime,
  runUntilInterrupted,
} from './daemon-flags.ts';
import {
  DEV_MESH_ADDRESS,
  INGRESS_HELP,
  ingressUnavailable,
  anyFreePort,
  parseIngress,
  serveThroughIngress,
} from './dev-ingress.ts';

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

interface DevFlags {
  metricsInterval: string;
  metricsSpool: string;
  meshPorts?: string;
  ingress?: string;
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
}

/** Registers `dabba dev`. */
export function devCommand(program: Command, ctx: CliContext): void {
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
    .option('--ingress <port>', INGRESS_HELP)
    .action((opts: DevFlags) => runDev(ctx, opts));
}

async function runDev(ctx: CliContext, opts: DevFlags): Promise<void> {
  const { host, port } = parseListen(opts.listen);
  const driver = parseDriver(opts.driver);
  let ingress = parseIngress(opts.ingress, opts.deploy);
  const ingressOff = ingress === undefined ? undefined : await ingressUnavailable();
  if (ingressOff !== undefined) ingress = undefined;
  // The ingress needs the mesh's proxy: on the ports given, else from one the system says is free.
  const meshPorts =
    opts.meshPorts ?? (ingress === undefined ? undefined : String(await anyFreePort(DEV_MESH_ADDRESS)));
  const daemon = await startDaemon(() =>
    ctx.daemons.dev(
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
        ...parseMeshPorts(meshPorts),
      },
      ctx.signal,
    ),
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
      ctx.err.write(`  credentials: not stored (${(e as Error).message}); use --token or DABBA_TOKEN\n`);
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
    if (r.ok && ingressOff !== undefined) ctx.err.write(`${ingressOff}\n`);
    if (r.ok && ingress !== undefined) {
      const ids = r.view.tasks.map((t) => t.id);
      const served = await serveThroughIngress(client, job.spec.name, ingress, ids);
      ctx.err.write(
        'url' in served
          ? `one address for all of them (the mesh's ingress, docs/mesh.md):\n  ${job.spec.name}: ${served.url}\n`
          : `${served.note}\n`,
      );
    }
  }
  ctx.err.write(tryNext(daemon.url, job?.spec.name, task, opts.deploy, jobFile, daemon.caFile));
  await runUntilInterrupted(ctx, daemon);
}

/**
 * The steps of a task's start (OciRuntime.start keeps the bookkeeping): prepare the root
 * filesystem, network namespace, address and record at once; resolve the process and write
 * config.json; create the container under conmon and start it.
 */
import { join } from 'node:path';
import { RuntimeError, isDabbaError, messageOf } from '../../errors/index.ts';
import {
  DEFAULT_PATH,
  ImageError,
  imageDefaults,
  type ImageInfo,
  type RootfsMount,
} from '../../image/index.ts';
import { portEnv } from '../port-env.ts';
import type { TaskLaunch } from '../runtime.ts';
import { cgroupPathsOf } from './cgroups.ts';
import { startConmonVia } from './conmon.ts';
import type { LogTarget } from './container-logs.ts';
import { netnsPath } from './network.ts';
import { findCommand, lookupUser } from './rootfs-lookup.ts';
import { buildSpec } from './spec.ts';
import { REFUSED, fail, settleAll } from './support.ts';
import { processStartTime, writeRecord, writeSmallFile, type TaskRecord } from './task-record.ts';
import type { TaskContext } from './task-context.ts';
import type { PrepareTimes, StartTrace } from './start-trace.ts';

/** The record of a task about to be created (phase `creating`). */
export function newRecord(ctx: TaskContext, launch: TaskLaunch, image: ImageInfo): TaskRecord {
  const { taskId, spec } = launch;
  const key = ctx.paths.keyOf(taskId);
  const leaf = `${taskId}-${key.slice(0, 6)}`;
  const ports: Record<string, number> = {};
  for (const p of spec.ports) ports[p.name] = p.port;
  return {
    taskId,
    job: launch.job,
    version: launch.version,
    containerId: taskId,
    key,
    image: image.name,
    imageDigest: image.digest,
    runtime: ctx.ready.cli.name,
    phase: 'creating',
    address: '',
    ports,
    netns: `dabba-${key}`,
    hostVeth: `dbv${key}`,
    cgroupsPath: `${ctx.cgroupParent}/${leaf}`,
    cgroupLeaf: leaf,
    createdAt: Date.now(),
  };
}

/**
 * Record, root filesystem, network namespace and address at once. Should the agent die before the
 * record is written, recover() finds the task directory without it and purges what the task may
 * own by the names derived from its id (mount, netns, veth, cgroups, address).
 */
async function prepareTask(
  ctx: TaskContext,
  rec: TaskRecord,
  image: ImageInfo,
): Promise<{ mount: RootfsMount; took: PrepareTimes }> {
  const taskDir = ctx.paths.taskDir(rec.taskId);
  const took: PrepareTimes = {};
  const t0 = performance.now();
  const timed = <T>(step: keyof PrepareTimes, p: Promise<T>): Promise<T> =>
    p.finally(() => (took[step] = Math.round((performance.now() - t0) * 10) / 10));
  // All settled before going on: on a failure, the cleanup must not run while another step (a
  // netns, a mount, an address) is still being made, or that one would be left behind.
  const [, mount] = await settleAll([
    writeRecord(taskDir, rec),
    timed('rootfs', ctx.images.prepareRootfs(image, taskDir, ctx.helper.run)),
    timed('netns', ctx.ready.network.createNamespace(rec)),
    // The address needs no record of its own: the allocation is by task id, and both destroy()
    // and recover() release by owner.
    timed(
      'address',
      ctx.ready.ipam.allocate(rec.taskId).then(async (address) => {
        rec.address = address;
        await writeSmallFile(
          join(taskDir, 'hosts'),
          `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${address}\t${rec.taskId}\n`,
        );
      }),
    ),
    writeSmallFile(join(taskDir, 'hostname'), `${rec.taskId}\n`),
  ]);
  return { mount, took };
}

/**
 * The process (the task's command, or the image's Entrypoint + Cmd; env = image Env < task env <
 * ports < agent env; the image's user from the rootfs's /etc/passwd) and the bundle's config.json.
 * Returns whether the seccomp profile went in precompiled (crun, once it was compiled).
 */
async function writeTaskConfig(
  ctx: TaskContext,
  launch: TaskLaunch,
  image: ImageInfo,
  rec: TaskRecord,
  rootfs: string,
): Promise<boolean> {
  const { taskId, spec } = launch;
  const { ready } = ctx;
  const taskDir = ctx.paths.taskDir(taskId);
  const defaults = imageDefaults(image);
  const args = spec.command.length > 0 ? spec.command : defaults.args;
  const env: Record<string, string> = {
    ...defaults.env,
    ...spec.env,
    ...portEnv(spec.ports, rec.ports),
    ...launch.env,
    HOSTNAME: taskId,
  };
  const cwd = spec.workingDir ?? defaults.workingDir;
  const command = args[0];
  if (command === undefined) {
    throw fail('CommandNotFound', `task ${taskId} has no command and image ${image.name} has no default`, {
      taskId,
    });
  }
  const path = env['PATH'] ?? DEFAULT_PATH;
  const [found, user] = await Promise.all([
    ctx.lookups.get(`cmd\0${image.digest}\0${command}\0${path}\0${cwd}`, () =>
      findCommand(rootfs, command, path, cwd),
    ),
    ctx.lookups.get(`user\0${image.digest}\0${defaults.user}`, () => lookupUser(rootfs, defaults.user)),
  ]);
  if (!found) {
    throw fail('CommandNotFound', `command "${command}" not found in image ${image.name}`, {
      taskId,
      command,
      image: image.name,
    });
  }
  if (!user)
    throw fail('StartFailed', `user "${defaults.user}" of image ${image.name} is not in its /etc/passwd`);
  const seccompBpf = ready.cli.name === 'crun' ? await ctx.seccompBpf.get() : undefined;
  const config = buildSpec({
    args,
    env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    cwd,
    uid: user.uid,
    gid: user.gid,
    hostname: taskId,
    netnsPath: netnsPath(rec.netns),
    cgroupsPath: rec.cgroupsPath,
    resources: spec.resources,
    hostsFile: join(taskDir, 'hosts'),
    hostnameFile: join(taskDir, 'hostname'),
    cgroupVersion: ready.layout.version,
    swapLimit: ready.swapLimit,
    nofile: ready.nofile,
    ...(spec.init !== false && ready.init !== undefined ? { init: ready.init } : {}),
    seccomp: ctx.seccomp,
    ...(seccompBpf === undefined ? {} : { seccompBpf }),
    ...(launch.binds === undefined ? {} : { binds: launch.binds }),
  });
  // A plain write: until the record says "created", a crash means the task is destroyed.
  await writeSmallFile(join(taskDir, 'config.json'), JSON.stringify(config, null, 2));
  return seccompBpf !== undefined;
}

/**
 * The whole start after the record: the log's pipe is made while the rest is prepared (it needs
 * only the task directory), then config.json, then the container. The runtime's hold on the pipe
 * is let go once conmon has it (or the start failed). Returns when each part of prepare was done.
 */
export async function startContainer(
  ctx: TaskContext,
  launch: TaskLaunch,
  image: ImageInfo,
  rec: TaskRecord,
  trace: StartTrace,
): Promise<PrepareTimes> {
  const logs = trace.time('logs', ctx.containerLogs.prepare(rec.taskId, ctx.logSizeMax, ctx.helper.run));
  try {
    const { mount, took } = await prepareTask(ctx, rec, image);
    trace.mark('parts');
    const precompiled = await writeTaskConfig(ctx, launch, image, rec, mount.rootfs);
    trace.mark('prepared');
    await runContainer(ctx, rec, precompiled, trace, await logs);
    return took;
  } finally {
    (await logs).release();
  }
}

/**
 * conmon runs `RUNTIME create` (through the fork helper: no fork of the agent) while the veth,
 * address and routes are set up; then the pid's start time and cgroups are read (it waits in the
 * runtime's init, so it cannot be gone yet), the record says `created`, and `RUNTIME start` runs.
 */
async function runContainer(
  ctx: TaskContext,
  rec: TaskRecord,
  precompiled: boolean,
  trace: StartTrace,
  target: LogTarget,
): Promise<void> {
  const { ready } = ctx;
  const taskDir = ctx.paths.taskDir(rec.taskId);
  const connecting = trace.time('connected', ready.network.connect(rec)).then(
    () => undefined,
    (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
  );
  const created = await startConmonVia(ctx.helper, {
    conmon: ready.conmon,
    runtime: ready.cli.path,
    runtimeArgs: ready.cli.globalArgs,
    containerId: rec.containerId,
    uuid: rec.key,
    bundle: taskDir,
    pidFile: join(taskDir, 'pidfile'),
    conmonPidFile: join(taskDir, 'conmon.pid'),
    exitDir: ctx.paths.exitsDir,
    logPath: target.path,
    ...(target.pipe === undefined ? {} : { pipe: target.pipe }),
    socketDir: ctx.paths.socketsDir,
    ...(ctx.logSizeMax !== undefined ? { logSizeMax: ctx.logSizeMax } : {}),
  });
  trace.mark('created');
  const netError = await connecting;
  if (netError !== undefined) throw netError;
  if (!created.ok) {
    throw fail('StartFailed', `${ready.cli.name} create failed: ${created.message}`, {
      taskId: rec.taskId,
      stderr: created.message,
    });
  }
  rec.pid = created.pid;
  rec.conmonPid = created.conmonPid;
  // The first container crun made from the profile leaves the program it compiled: kept for the next.
  if (ready.cli.name === 'crun' && !precompiled) {
    await ctx.seccompBpf.capture(join(ready.cli.root, rec.containerId)).catch(() => undefined);
    trace.mark('seccompCaptured');
  }
  const [pidStart, cgroups] = await Promise.all([
    processStartTime(created.pid),
    cgroupPathsOf(created.pid, ready.layout),
  ]);
  if (pidStart !== undefined) rec.pidStart = pidStart;
  rec.cgroups = cgroups;
  rec.phase = 'created';
  trace.mark('pidRead');
  const starting = trace.time('startReturned', ready.cli.start(rec.containerId));
  await trace.time('createdRecorded', writeRecord(taskDir, rec));
  const started = await starting;
  if (started.code !== 0) {
    throw fail('StartFailed', `${ready.cli.name} start failed: ${started.stderr.trim()}`, {
      taskId: rec.taskId,
      stderr: started.stderr,
    });
  }
  rec.phase = 'running';
  rec.startedAt = Date.now();
  await writeRecord(taskDir, rec);
  trace.mark('runningRecorded');
}

/** The error a failed start reports: the runtime's own, an image refused, or StartFailed. */
export function startError(e: unknown, taskId: string, image: string | undefined): RuntimeError {
  if (e instanceof RuntimeError) return e;
  // An image whose layers the store will not unpack (an escape, a bound, a digest) is the
  // image's fault, not the host's: say so, and which image, in the task's reason and message.
  if (e instanceof ImageError && REFUSED.has(e.reason)) {
    const details = { taskId, image, code: e.code, refusal: e.reason };
    return fail('ImageRefused', `image "${image}" refused: ${messageOf(e)}`, details, e);
  }
  if (e instanceof ImageError || isDabbaError(e)) return fail('StartFailed', messageOf(e), { taskId }, e);
  return fail('StartFailed', `starting task ${taskId} failed: ${messageOf(e)}`, { taskId }, e);
}

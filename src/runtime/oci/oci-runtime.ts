/**
 * The oci runtime: each task is a container run by runc or crun under conmon, with its root
 * filesystem an overlay of the image's shared layers, its own network namespace on the agent's
 * bridge, cgroup limits from the task's resources, and Docker-like confinement (capabilities,
 * seccomp, masked paths, no_new_privs). Everything a task owns is named after it so remove() can
 * find and delete it, and recover() can pick tasks up again after an agent restart.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants as fsConstants, statSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join, resolve } from 'node:path';
import { RuntimeError, isDabbaError, messageOf } from '../../errors/index.ts';
import {
  DEFAULT_PATH,
  ImageError,
  imageDefaults,
  type ImageErrorReason,
  type ImageInfo,
  type ImageStore,
} from '../../image/index.ts';
import { createLogger, sleep, type Logger } from '../../lib/index.ts';
import type { TaskUsage } from '../../model/index.ts';
import { killExecByPidFile } from './exec-kill.ts';
import { ociExecStream } from './exec-stream.ts';
import type {
  ExecResult,
  ExecSession,
  ExecStreamOptions,
  ExitStatus,
  LogLine,
  LogReadOptions,
  RemoveOptions,
  Runtime,
  TaskHandle,
  TaskLaunch,
} from '../runtime.ts';
import {
  cgroupPathsOf,
  detectCgroups,
  exists,
  oomKillCount,
  readUsage,
  removeCgroupDirs,
  type CgroupLayout,
  type CgroupPaths,
} from './cgroups.ts';
import { Admission } from './admission.ts';
import { startConmonVia } from './conmon.ts';
import { ForkHelper } from './fork-helper.ts';
import { readCriLog } from './cri-log.ts';
import { findInit } from './init-binary.ts';
import { Ipam, parseSubnet } from './ipam.ts';
import { BridgeNetwork, netnsPath } from './network.ts';
import { OciCli } from './oci-cli.ts';
import { portEnv } from '../port-env.ts';
import { keepTail } from '../previous-log.ts';
import { findCommand, lookupUser } from './rootfs-lookup.ts';
import { chooseSeccompProfile, type SeccompChoice } from './seccomp-distribution.ts';
import { buildSpec, DEFAULT_CAPABILITIES } from './spec.ts';
import {
  isAlive,
  processStartTime,
  readExit,
  readJson,
  readRecord,
  writeExit,
  writeJsonAtomic,
  writeRecord,
  type TaskRecord,
} from './task-record.ts';
import { findExecutable, runTool } from './tool.ts';

export interface OciRuntimeOptions {
  /** Where bundles, logs, exit files and allocations live (survives agent restarts). */
  stateDir: string;
  images: ImageStore;
  /** Which OCI runtime to use; default crun if installed (it starts containers faster), else runc. */
  ociRuntime?: 'runc' | 'crun';
  /**
   * The agent's bridge and private subnet; default dabba0 and the host's range of the task network
   * from the control plane (useNetwork), else 10.88.0.0/16. A subnet given here wins over the
   * control plane's.
   */
  network?: { bridge?: string; subnet?: string };
  /** Parent cgroup of all tasks (absolute); default /dabba. */
  cgroupParent?: string;
  /** runc/crun state directory (--root); default STATE/runtime. */
  runtimeRoot?: string;
  /**
   * Starts run at once at most (more wait their turn, in order); default unlimited. A start is
   * mostly CPU (runc, conmon, ip, mount): in a burst, a limit of a few per core brings the first
   * tasks up much sooner, but on a machine shared with other work it made the last one later
   * (see docs/benchmarks.md).
   */
  maxConcurrentStarts?: number;
  /** Rotate a task's log at this many bytes (conmon --log-size-max); default unlimited. */
  logSizeMax?: number;
  /**
   * The distribution's seccomp profile to use when it exists and can be used (default
   * /usr/share/containers/seccomp.json, Podman's); else the built-in one (seccomp-distribution.ts).
   */
  seccompProfilePath?: string;
  logger?: Logger;
}

interface Ready {
  cli: OciCli;
  conmon: string;
  layout: CgroupLayout;
  swapLimit: boolean;
  ipam: Ipam;
  network: BridgeNetwork;
  nofile: number;
  /** The container init (catatonit), if the host has a usable one. */
  init: string | undefined;
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve: (v: T) => void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
const OUTPUT_LIMIT = 1024 * 1024;

function signalName(n: number): string | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return null;
}

/** ExitStatus from conmon's exit code and the cgroup's OOM-kill counter. */
export function exitStatusFrom(code: number | null, oomKilled: boolean, finishedAt = Date.now()): ExitStatus {
  if (oomKilled)
    return { exitCode: 137, signal: 'SIGKILL', oomKilled: true, reason: 'OOMKilled', finishedAt };
  if (code === null) return { exitCode: null, signal: null, oomKilled: false, reason: 'Unknown', finishedAt };
  const signal = code > 128 && code <= 128 + 64 ? signalName(code - 128) : null;
  return { exitCode: code, signal, oomKilled: false, reason: signal ? 'Killed' : 'Exited', finishedAt };
}

/** The agent's hard open-file limit, capped at 65536 (a task cannot get more without CAP_SYS_RESOURCE). */
async function openFileLimit(): Promise<number> {
  const text = await readFile('/proc/self/limits', 'utf8').catch(() => '');
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(text);
  const hard = m?.[1] === 'unlimited' ? Infinity : Number(m?.[1] ?? 1024);
  return Math.min(Number.isFinite(hard) && hard > 0 ? hard : 1024, 65536);
}

const HELPER_PREFIX = 'dabba-helper-';

/** Remembers answers (a bounded number: cleared when full). */
class LookupCache {
  private readonly entries = new Map<string, Promise<unknown>>();

  get<T>(key: string, compute: () => Promise<T>): Promise<T> {
    let p = this.entries.get(key) as Promise<T> | undefined;
    if (!p) {
      if (this.entries.size >= 1024) this.entries.clear();
      p = compute();
      this.entries.set(key, p);
      // A failed look-up is not remembered.
      p.catch(() => this.entries.delete(key));
    }
    return p;
  }
}

/**
 * Where the fork helper leaves the tools' output for a moment: tmpfs (/dev/shm) when there is one,
 * since creating and deleting two files per tool on ext4 costs measurable CPU in a burst of starts.
 */
function helpersBase(stateDir: string): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', fsConstants.W_OK);
      return '/dev/shm';
    }
  } catch {
    // no tmpfs: the state directory
  }
  return join(stateDir, 'helpers');
}

/** Image errors that are the image's content, not the host (mount or I/O failures are the host's). */
const REFUSED: ReadonlySet<ImageErrorReason> = new Set([
  'InvalidImage',
  'TooLarge',
  'DigestMismatch',
  'SizeMismatch',
  'UnsupportedMediaType',
]);

function fail(
  reason: string,
  message: string,
  details: Record<string, unknown> = {},
  cause?: unknown,
): RuntimeError {
  return new RuntimeError(message, { details: { reason, ...details }, cause });
}

export class OciRuntime implements Runtime {
  readonly name = 'oci';
  readonly stateDir: string;
  private readonly images: ImageStore;
  private readonly logger: Logger;
  private readonly options: OciRuntimeOptions;
  private readonly tasksDir: string;
  private readonly exitsDir: string;
  private readonly socketsDir: string;
  /** Logs (and exits) of tasks' previous runs, kept across restarts in place: <id>.log, <id>.exit.json. */
  private readonly previousDir: string;
  private readonly runtimeRoot: string;
  private readonly cgroupParent: string;
  private ready: Promise<Ready> | undefined;
  private readonly records = new Map<string, TaskRecord>();
  private readonly exits = new Map<string, ExitStatus>();
  private readonly waiters = new Map<string, Deferred<ExitStatus>>();
  private readonly finalizing = new Map<string, Promise<ExitStatus>>();
  private readonly removing = new Set<string>();
  /** Starts in progress: stop, wait and remove of such a task first wait for the start to settle. */
  private readonly starting = new Map<string, Promise<unknown>>();
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;
  /** Runs the host tools (ip, mount, runc) without forking the agent; see fork-helper.ts. */
  private readonly helper: ForkHelper;
  private readonly helpersDir: string;
  /** Starts under way at most (maxConcurrentStarts). */
  private readonly admission: Admission;
  /**
   * Command and user look-ups by image digest: a task's root filesystem is the image's layers
   * under an empty upper layer when they are made, so the answer is the image's.
   */
  private readonly lookups = new LookupCache();
  /** The host's range of the task network and the network itself, from the control plane (useNetwork). */
  private assigned: { subnet: string; taskNetwork?: string } | undefined;
  /**
   * Takes the host's range of the task network from the control plane (see Runtime.useNetwork);
   * it takes effect at setup, so call it before recover() and start(). Absent when the options name
   * a subnet: that one wins, and the agent then asks the server for no range.
   */
  readonly useNetwork?: (subnet: string, taskNetwork?: string) => void;
  /** The seccomp profile tasks run under, chosen once (the distribution's, else the built-in one). */
  readonly #seccomp: SeccompChoice;
  /** Which one, for the host's record (`dabba hosts`). */
  readonly seccomp: string;

  constructor(options: OciRuntimeOptions) {
    this.options = options;
    this.#seccomp = chooseSeccompProfile({
      capabilities: DEFAULT_CAPABILITIES,
      ...(options.seccompProfilePath === undefined ? {} : { path: options.seccompProfilePath }),
    });
    this.seccomp =
      this.#seccomp.source === 'distribution' ? `distribution ${this.#seccomp.path ?? ''}` : 'built-in';
    // Absolute: the tools (mount, runc, conmon) run in other working directories.
    const stateDir = resolve(options.stateDir);
    this.stateDir = stateDir;
    this.images = options.images;
    this.logger = options.logger ?? createLogger('oci-runtime');
    if (this.#seccomp.reason !== undefined) this.logger.warn({ seccomp: 'built-in' }, this.#seccomp.reason);
    this.tasksDir = join(stateDir, 'tasks');
    this.exitsDir = join(stateDir, 'exits');
    this.socketsDir = join(stateDir, 'sockets');
    this.previousDir = join(stateDir, 'previous');
    this.runtimeRoot = resolve(options.runtimeRoot ?? join(stateDir, 'runtime'));
    this.admission = new Admission(options.maxConcurrentStarts ?? Infinity);
    this.helpersDir = helpersBase(stateDir);
    this.helper = new ForkHelper(
      join(this.helpersDir, `${HELPER_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`),
    );
    this.cgroupParent = (options.cgroupParent ?? '/dabba').replace(/\/+$/, '');
    if (!this.cgroupParent.startsWith('/'))
      throw fail('BadConfig', 'cgroupParent must be an absolute cgroup path');
    if (options.network?.subnet === undefined) {
      this.useNetwork = (subnet, taskNetwork) => this.assignNetwork(subnet, taskNetwork);
    }
  }

  // ---- setup ----

  /** See useNetwork. */
  private assignNetwork(subnet: string, taskNetwork?: string): void {
    const next = {
      subnet: parseSubnet(subnet).cidr,
      ...(taskNetwork === undefined ? {} : { taskNetwork: parseSubnet(taskNetwork).cidr }),
    };
    if (this.ready !== undefined && next.subnet !== this.assigned?.subnet) {
      this.logger.warn(
        {
          subnet: next.subnet,
          inUse: this.assigned?.subnet ?? '10.88.0.0/16',
        },
        "the host's task range changed while the runtime runs; it applies after a restart",
      );
    }
    this.assigned = next;
  }

  private init(): Promise<Ready> {
    this.ready ??= this.setup().catch((e: unknown) => {
      this.ready = undefined;
      throw e;
    });
    return this.ready;
  }

  private async setup(): Promise<Ready> {
    const which = this.options.ociRuntime ?? ((await findExecutable('crun')) ? 'crun' : 'runc');
    const runtimePath = await findExecutable(which);
    if (!runtimePath) throw fail('Unavailable', `${which} not found on PATH`);
    const conmon = await findExecutable('conmon');
    if (!conmon) throw fail('Unavailable', 'conmon not found on PATH');
    const ip = await findExecutable('ip');
    if (!ip) throw fail('Unavailable', 'ip (iproute2) not found on PATH');
    const nft = await findExecutable('nft');
    for (const d of [this.tasksDir, this.exitsDir, this.socketsDir, this.previousDir, this.runtimeRoot]) {
      await mkdir(d, { recursive: true, mode: 0o700 });
    }
    await this.removeStaleHelperDirs();
    let layout = await detectCgroups();
    if (which === 'crun' && layout.version === 1 && !layout.v1.has('hugetlb')) {
      await this.mountHugetlb();
      layout = await detectCgroups();
    }
    const memoryMount = layout.v1.get('memory');
    const swapLimit =
      layout.version === 2 ||
      (memoryMount !== undefined &&
        (await exists(join(memoryMount.mountpoint, 'memory.memsw.limit_in_bytes'))));
    // A subnet configured on the agent wins (useNetwork is absent then); else the host's range
    // from the control plane; else the default.
    const assigned = this.assigned;
    const subnet = parseSubnet(this.options.network?.subnet ?? assigned?.subnet ?? '10.88.0.0/16');
    const ipam = new Ipam(join(this.stateDir, 'ipam.json'), subnet);
    const network = new BridgeNetwork({
      bridge: this.options.network?.bridge ?? 'dabba0',
      subnet,
      ...(assigned?.taskNetwork === undefined ? {} : { taskNetwork: parseSubnet(assigned.taskNetwork) }),
      ip,
      ...(nft ? { nft } : {}),
      logger: this.logger,
      run: this.helper.run,
    });
    const holder = (await ipam.list())[subnet.gateway];
    if (holder !== undefined) {
      this.logger.warn(
        { gateway: subnet.gateway, task: holder },
        "a task from before the subnet changed holds this range's gateway address; restart it",
      );
    }
    await network.ensureBridge();
    const cli = new OciCli(which, runtimePath, this.runtimeRoot, this.helper.run);
    this.watchExits();
    const init = await findInit();
    if (init === undefined) {
      this.logger.warn(
        'no static catatonit found (apt-get install catatonit): containers run their command as PID 1, ' +
          'where a SIGTERM it has no handler for is ignored and zombies are not reaped',
      );
    }
    return { cli, conmon, layout, swapLimit, ipam, network, nofile: await openFileLimit(), init };
  }

  /** Output directories of fork helpers of agents that are gone (a kill -9 leaves one behind). */
  private async removeStaleHelperDirs(): Promise<void> {
    for (const name of await readdir(this.helpersDir).catch(() => [] as string[])) {
      if (!name.startsWith(HELPER_PREFIX)) continue;
      const pid = Number(name.slice(HELPER_PREFIX.length).split('-')[0]);
      if (pid === process.pid || (Number.isInteger(pid) && pid > 0 && (await isAlive(pid)))) continue;
      await rm(join(this.helpersDir, name), { recursive: true, force: true });
    }
  }

  /** crun refuses a v1 host where hugetlb is not mounted as v1: mount it if the kernel has it. */
  private async mountHugetlb(): Promise<void> {
    const cgroups = await readFile('/proc/cgroups', 'utf8').catch(() => '');
    if (!/^hugetlb\s+\d+\s+\d+\s+1$/m.test(cgroups)) return;
    await mkdir('/sys/fs/cgroup/hugetlb', { recursive: true });
    const r = await runTool('mount', ['-t', 'cgroup', '-o', 'hugetlb', 'cgroup', '/sys/fs/cgroup/hugetlb']);
    if (r.code !== 0)
      this.logger.warn({ err: r.stderr.trim() }, 'could not mount the hugetlb cgroup for crun');
    else this.logger.info('mounted the hugetlb cgroup (v1) for crun');
  }

  private watchExits(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.exitsDir, (_event, file) => {
        if (!file) return;
        for (const r of this.records.values()) if (r.containerId === file) void this.checkExit(r.taskId);
      });
      this.watcher.unref();
    } catch (e) {
      this.logger.warn({ err: messageOf(e) }, 'cannot watch the exit directory; polling');
    }
    this.poller = setInterval(() => {
      for (const id of this.records.keys()) if (!this.exits.has(id)) void this.checkExit(id);
    }, 1000);
    this.poller.unref();
  }

  private taskDir(taskId: string): string {
    return join(this.tasksDir, taskId);
  }

  private keyOf(taskId: string): string {
    return createHash('sha256').update(`${this.stateDir}\0${taskId}`).digest('hex').slice(0, 10);
  }

  private async record(taskId: string): Promise<TaskRecord | undefined> {
    if (!TASK_ID.test(taskId)) return undefined;
    const cached = this.records.get(taskId);
    if (cached) {
      // Another instance may have removed it meanwhile (after an agent restart, say).
      if (this.starting.has(taskId) || this.removing.has(taskId) || (await exists(this.taskDir(taskId))))
        return cached;
      this.records.delete(taskId);
      this.exits.delete(taskId);
      return undefined;
    }
    const r = await readRecord(this.taskDir(taskId));
    if (r) this.records.set(taskId, r);
    return r;
  }

  private async requireRecord(taskId: string): Promise<TaskRecord> {
    const r = await this.record(taskId);
    if (!r) throw fail('NotFound', `task ${taskId} is not known to the oci runtime`, { taskId });
    return r;
  }

  // ---- start ----

  start(launch: TaskLaunch): Promise<TaskHandle> {
    const { taskId } = launch;
    if (this.starting.has(taskId)) {
      return Promise.reject(fail('AlreadyExists', `task ${taskId} is already being started`, { taskId }));
    }
    const p = this.admission.run(() => this.doStart(launch));
    const settled = p.then(
      () => undefined,
      () => undefined,
    );
    this.starting.set(taskId, settled);
    void settled.then(() => this.starting.delete(taskId));
    return p;
  }

  /** Lets a start of `taskId` in progress in this instance finish (successfully or not). */
  private async settled(taskId: string): Promise<void> {
    await this.starting.get(taskId);
  }

  private async doStart(launch: TaskLaunch): Promise<TaskHandle> {
    const t0 = performance.now();
    const ready = await this.init();
    const { taskId, spec } = launch;
    if (!TASK_ID.test(taskId))
      throw fail('StartFailed', `bad task id "${taskId}" (letters, digits, . _ -; at most 63)`);
    const taskDir = this.taskDir(taskId);
    if (this.records.has(taskId) || (await exists(taskDir))) {
      throw fail('AlreadyExists', `task ${taskId} already exists`, { taskId });
    }
    if (!spec.image)
      throw fail('ImageNotFound', `task ${taskId} names no image (the oci runtime needs one)`, { taskId });
    let image: ImageInfo | undefined;
    try {
      image = await this.images.get(spec.image);
    } catch (e) {
      throw fail('ImageNotFound', `image "${spec.image}": ${messageOf(e)}`, { image: spec.image }, e);
    }
    if (!image)
      throw fail('ImageNotFound', `image "${spec.image}" is not in the image store`, { image: spec.image });

    const key = this.keyOf(taskId);
    const leaf = `${taskId}-${key.slice(0, 6)}`;
    const ports: Record<string, number> = {};
    for (const p of spec.ports) ports[p.name] = p.port;
    await mkdir(taskDir, { recursive: true, mode: 0o711 });
    const rec: TaskRecord = {
      taskId,
      job: launch.job,
      version: launch.version,
      containerId: taskId,
      key,
      image: image.name,
      imageDigest: image.digest,
      runtime: ready.cli.name,
      phase: 'creating',
      address: '',
      ports,
      netns: `dabba-${key}`,
      hostVeth: `dbv${key}`,
      cgroupsPath: `${this.cgroupParent}/${leaf}`,
      cgroupLeaf: leaf,
      createdAt: Date.now(),
    };
    this.records.set(taskId, rec);
    try {
      // Record, root filesystem, network namespace and address at once. Should the
      // agent die before the record is written, recover() finds the task directory without it
      // and purges what the task may own by the names derived from its id (mount, netns, veth,
      // cgroups, address).
      const hostsFile = join(taskDir, 'hosts');
      const hostnameFile = join(taskDir, 'hostname');
      // All settled before going on: on a failure, the cleanup below must not run while another
      // step (a netns, a mount, an address) is still being made, or that one would be left behind.
      const preparing = settleAll([
        writeRecord(taskDir, rec),
        this.images.prepareRootfs(image, taskDir, this.helper.run),
        ready.network.createNamespace(rec),
        // The address needs no record of its own: the allocation is by task id, and both
        // destroy() and recover() release by owner.
        ready.ipam.allocate(taskId).then(async (address) => {
          rec.address = address;
          await writeFile(
            hostsFile,
            `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${address}\t${taskId}\n`,
          );
        }),
        writeFile(hostnameFile, `${taskId}\n`),
      ]);
      const [, mount] = await preparing;

      const defaults = imageDefaults(image);
      const args = spec.command.length > 0 ? spec.command : defaults.args;
      const env: Record<string, string> = {
        ...defaults.env,
        ...spec.env,
        ...portEnv(spec.ports, ports),
        ...launch.env,
        HOSTNAME: taskId,
      };
      const cwd = spec.workingDir ?? defaults.workingDir;
      const command = args[0];
      if (command === undefined) {
        throw fail(
          'CommandNotFound',
          `task ${taskId} has no command and image ${image.name} has no default`,
          { taskId },
        );
      }
      const [found, user] = await Promise.all([
        this.lookups.get(`cmd\0${image.digest}\0${command}\0${env['PATH'] ?? DEFAULT_PATH}\0${cwd}`, () =>
          findCommand(mount.rootfs, command, env['PATH'] ?? DEFAULT_PATH, cwd),
        ),
        this.lookups.get(`user\0${image.digest}\0${defaults.user}`, () =>
          lookupUser(mount.rootfs, defaults.user),
        ),
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
        hostsFile,
        hostnameFile,
        cgroupVersion: ready.layout.version,
        swapLimit: ready.swapLimit,
        nofile: ready.nofile,
        ...(spec.init !== false && ready.init !== undefined ? { init: ready.init } : {}),
        seccomp: this.#seccomp.profile,
        ...(launch.binds === undefined ? {} : { binds: launch.binds }),
      });
      // A plain write: until the record says "created", a crash means the task is destroyed.
      await writeFile(join(taskDir, 'config.json'), JSON.stringify(config, null, 2));

      // The veth, address and routes are set up while the container is being created; only the
      // namespace had to exist before. The process runs only after both are done.
      const connecting = ready.network.connect(rec).then(
        () => undefined,
        (e: unknown) => (e instanceof Error ? e : new Error(String(e))),
      );
      const tPrepared = performance.now();
      // conmon runs `runc create` through the fork helper: no fork of the agent.
      const created = await startConmonVia(this.helper, {
        conmon: ready.conmon,
        runtime: ready.cli.path,
        runtimeArgs: ready.cli.globalArgs,
        containerId: rec.containerId,
        uuid: key,
        bundle: taskDir,
        pidFile: join(taskDir, 'pidfile'),
        conmonPidFile: join(taskDir, 'conmon.pid'),
        exitDir: this.exitsDir,
        logPath: join(taskDir, 'ctr.log'),
        socketDir: this.socketsDir,
        ...(this.options.logSizeMax !== undefined ? { logSizeMax: this.options.logSizeMax } : {}),
      });
      const tCreated = performance.now();
      const netError = await connecting;
      if (netError !== undefined) throw netError;
      if (!created.ok) {
        throw fail('StartFailed', `${ready.cli.name} create failed: ${created.message}`, {
          taskId,
          stderr: created.message,
        });
      }
      rec.pid = created.pid;
      rec.conmonPid = created.conmonPid;
      // What identifies the process is read before it is started: until then it waits in the
      // runtime's init, so it cannot be gone yet. The record is written while it starts.
      const [pidStart, cgroups] = await Promise.all([
        processStartTime(created.pid),
        cgroupPathsOf(created.pid, ready.layout),
      ]);
      if (pidStart !== undefined) rec.pidStart = pidStart;
      rec.cgroups = cgroups;
      rec.phase = 'created';
      const starting = ready.cli.start(rec.containerId);
      await writeRecord(taskDir, rec);
      const started = await starting;
      if (started.code !== 0) {
        throw fail('StartFailed', `${ready.cli.name} start failed: ${started.stderr.trim()}`, {
          taskId,
          stderr: started.stderr,
        });
      }
      const tStarted = performance.now();
      rec.phase = 'running';
      rec.startedAt = Date.now();
      await writeRecord(taskDir, rec);
      const ms = (a: number, b: number): number => Math.round((b - a) * 10) / 10;
      this.logger.debug(
        {
          taskId,
          pid: rec.pid,
          address: rec.address,
          // Where the start's time went (bench/oci-deploy.ts reads these).
          ms: {
            prepare: ms(t0, tPrepared),
            create: ms(tPrepared, tCreated),
            start: ms(tCreated, tStarted),
            total: ms(t0, performance.now()),
          },
        },
        'task started',
      );
      void this.checkExit(taskId);
      return this.handleOf(rec);
    } catch (e) {
      // A task between two runs (restarted in place) keeps its address for the next attempt, and
      // remove() releases it; a first start that fails leaves nothing behind.
      const keepAddress = await exists(this.previousLog(taskId));
      await this.destroy(rec, { keepAddress, keepLog: false }).catch((err: unknown) =>
        this.logger.warn({ taskId, err: messageOf(err) }, 'cleanup after failed start'),
      );
      if (e instanceof RuntimeError) throw e;
      // An image whose layers the store will not unpack (an escape, a bound, a digest) is the
      // image's fault, not the host's: say so, and which image, in the task's reason and message.
      if (e instanceof ImageError && REFUSED.has(e.reason)) {
        const details = { taskId, image: spec.image, code: e.code, refusal: e.reason };
        throw fail('ImageRefused', `image "${spec.image}" refused: ${messageOf(e)}`, details, e);
      }
      if (e instanceof ImageError || isDabbaError(e)) throw fail('StartFailed', messageOf(e), { taskId }, e);
      throw fail('StartFailed', `starting task ${taskId} failed: ${messageOf(e)}`, { taskId }, e);
    }
  }

  private handleOf(r: TaskRecord): TaskHandle {
    return {
      taskId: r.taskId,
      pid: r.pid ?? 0,
      address: r.address,
      ports: { ...r.ports },
      startedAt: r.startedAt ?? r.createdAt,
    };
  }

  // ---- exit ----

  private exitFile(r: TaskRecord): string {
    return join(this.exitsDir, r.containerId);
  }

  private async conmonAlive(r: TaskRecord): Promise<boolean> {
    if (!r.conmonPid) return false;
    try {
      return (
        (await readFile(`/proc/${r.conmonPid}/comm`, 'utf8')).trim() === 'conmon' &&
        (await isAlive(r.conmonPid))
      );
    } catch {
      return false;
    }
  }

  /** Finalizes the task's exit if it has exited (exit file written, or nobody left to write it). */
  private async checkExit(taskId: string): Promise<void> {
    const r = this.records.get(taskId);
    if (!r || r.phase === 'creating' || this.removing.has(taskId) || this.exits.has(taskId)) return;
    try {
      if (await exists(this.exitFile(r))) {
        await this.finalize(r);
        return;
      }
      if (
        !(await isAlive(r.pid, r.pidStart)) &&
        !(await this.conmonAlive(r)) &&
        !(await exists(this.exitFile(r)))
      ) {
        await this.finalize(r);
      }
    } catch (e) {
      this.logger.warn({ taskId, err: messageOf(e) }, 'exit check failed');
    }
  }

  private finalize(r: TaskRecord): Promise<ExitStatus> {
    const known = this.exits.get(r.taskId);
    if (known) return Promise.resolve(known);
    let p = this.finalizing.get(r.taskId);
    if (p) return p;
    p = (async () => {
      const saved = await readExit(this.taskDir(r.taskId));
      let status: ExitStatus;
      if (saved) status = saved;
      else {
        const text = await readFile(this.exitFile(r), 'utf8').catch(() => undefined);
        const n = text === undefined ? NaN : parseInt(text.trim(), 10);
        const code = Number.isFinite(n) && n >= 0 ? n : null;
        const oom = r.cgroups ? (await oomKillCount(r.cgroups)) > 0 : false;
        status = exitStatusFrom(code, oom);
        if (!this.removing.has(r.taskId))
          await writeExit(this.taskDir(r.taskId), status).catch(() => undefined);
      }
      this.exits.set(r.taskId, status);
      this.waiters.get(r.taskId)?.resolve(status);
      this.waiters.delete(r.taskId);
      this.logger.debug({ taskId: r.taskId, status }, 'task exited');
      return status;
    })().finally(() => this.finalizing.delete(r.taskId));
    this.finalizing.set(r.taskId, p);
    return p;
  }

  async wait(taskId: string): Promise<ExitStatus> {
    await this.init();
    await this.settled(taskId);
    const known = this.exits.get(taskId);
    if (known) return known;
    const r = await this.requireRecord(taskId);
    const saved = await readExit(this.taskDir(taskId));
    if (saved) {
      this.exits.set(taskId, saved);
      return saved;
    }
    let d = this.waiters.get(taskId);
    if (!d) {
      d = deferred<ExitStatus>();
      this.waiters.set(taskId, d);
    }
    if (r.phase === 'creating') {
      // A start that never completed: nothing will ever exit.
      return this.finalize(r);
    }
    void this.checkExit(taskId);
    return d.promise;
  }

  private async exitedWithin(taskId: string, ms: number): Promise<boolean> {
    const ctl = new AbortController();
    const result = await Promise.race([
      this.wait(taskId).then(() => true),
      sleep(ms, ctl.signal).then(() => false),
    ]);
    ctl.abort();
    return result;
  }

  async stop(taskId: string, graceMs: number): Promise<void> {
    const ready = await this.init();
    await this.settled(taskId);
    const r = await this.record(taskId);
    if (!r) return;
    if (r.phase === 'creating') return;
    if (!this.exits.has(taskId) && !(await readExit(this.taskDir(taskId)))) {
      if (graceMs > 0) {
        await ready.cli.kill(r.containerId, 'SIGTERM');
        if (await this.exitedWithin(taskId, graceMs)) return this.deleteContainer(ready, r);
      }
      await ready.cli.kill(r.containerId, 'SIGKILL', true);
      if (!(await this.exitedWithin(taskId, 10_000))) {
        if (r.pid && (await isAlive(r.pid, r.pidStart))) process.kill(r.pid, 'SIGKILL');
        if (!(await this.exitedWithin(taskId, 5_000))) {
          throw fail('StopFailed', `task ${taskId} (pid ${r.pid}) did not exit after SIGKILL`, { taskId });
        }
      }
    }
    await this.deleteContainer(ready, r);
  }

  private async deleteContainer(ready: Ready, r: TaskRecord): Promise<void> {
    await this.finalize(r);
    await ready.cli.delete(r.containerId, true);
  }

  // ---- remove ----

  async remove(taskId: string, options: RemoveOptions = {}): Promise<void> {
    const ready = await this.init();
    await this.settled(taskId);
    const r = await this.record(taskId);
    if (!r) {
      if (!TASK_ID.test(taskId)) return;
      if (await exists(this.taskDir(taskId))) await this.purge(ready, taskId);
      // Between two runs (or left so by an agent that died then): the address and previous log.
      if (!options.restarting) await this.forgetTask(ready, taskId);
      return;
    }
    if (r.phase !== 'creating') await this.stop(taskId, 0);
    const restarting = options.restarting === true;
    await this.destroy(r, { keepAddress: restarting, keepLog: restarting });
  }

  private previousLog(taskId: string): string {
    return join(this.previousDir, `${taskId}.log`);
  }

  private previousExit(taskId: string): string {
    return join(this.previousDir, `${taskId}.exit.json`);
  }

  /** What a task keeps between runs: its address and its previous run's log. */
  private async forgetTask(ready: Ready, taskId: string): Promise<void> {
    await ready.ipam.releaseOwner(taskId);
    await rm(this.previousLog(taskId), { force: true });
    await rm(this.previousExit(taskId), { force: true });
  }

  /**
   * Deletes everything the task owns, whatever state it got to, but what `keep` says: for a restart
   * in place (see RemoveOptions) its address stays allocated to it and its log is kept as the
   * previous run's; after a failed start only the address is kept (the previous log stays as it was).
   */
  private async destroy(
    r: TaskRecord,
    keep: { keepAddress: boolean; keepLog: boolean } = { keepAddress: false, keepLog: false },
  ): Promise<void> {
    const ready = await this.init();
    const taskDir = this.taskDir(r.taskId);
    this.removing.add(r.taskId);
    try {
      await ready.cli.delete(r.containerId, true);
      if (await this.conmonAlive(r)) {
        for (let i = 0; i < 20 && (await this.conmonAlive(r)); i++) await sleep(100);
        if (r.conmonPid && (await this.conmonAlive(r))) process.kill(r.conmonPid, 'SIGKILL');
      }
      const paths: CgroupPaths = r.cgroups ?? this.expectedCgroups(ready.layout, r);
      const left = await removeCgroupDirs(paths, r.cgroupLeaf);
      if (left.length > 0)
        this.logger.warn({ taskId: r.taskId, left }, 'cgroup directories could not be removed');
      await ready.network.teardown(r);
      await this.images.releaseRootfs(taskDir, this.helper.run);
      if (keep.keepLog) {
        await keepTail(join(taskDir, 'ctr.log'), this.previousLog(r.taskId));
        const exit = this.exits.get(r.taskId) ?? (await readExit(taskDir));
        if (exit) await writeJsonAtomic(this.previousExit(r.taskId), exit);
      }
      if (!keep.keepAddress) await this.forgetTask(ready, r.taskId);
      await rm(this.exitFile(r), { force: true });
      await rm(join(this.socketsDir, r.key), { force: true });
      await rm(taskDir, { recursive: true, force: true });
    } finally {
      this.records.delete(r.taskId);
      this.exits.delete(r.taskId);
      this.removing.delete(r.taskId);
      const w = this.waiters.get(r.taskId);
      if (w) {
        w.resolve(exitStatusFrom(null, false));
        this.waiters.delete(r.taskId);
      }
    }
  }

  /** Deletes what a task without a record may have left, by the names derived from its id. */
  private async purge(ready: Ready, taskId: string): Promise<void> {
    const key = this.keyOf(taskId);
    const leaf = `${taskId}-${key.slice(0, 6)}`;
    await ready.cli.delete(taskId, true);
    await ready.network.teardown({ netns: `dabba-${key}`, hostVeth: `dbv${key}` });
    const paths = this.expectedCgroups(ready.layout, { cgroupsPath: `${this.cgroupParent}/${leaf}` });
    await removeCgroupDirs(paths, leaf);
    await this.images.releaseRootfs(this.taskDir(taskId), this.helper.run);
    await rm(join(this.exitsDir, taskId), { force: true });
    await rm(join(this.socketsDir, key), { force: true });
    await rm(this.taskDir(taskId), { recursive: true, force: true });
  }

  /** Where the task's cgroups would be, for a task that failed before its pid was known. */
  private expectedCgroups(layout: CgroupLayout, r: Pick<TaskRecord, 'cgroupsPath'>): CgroupPaths {
    const all = new Set<string>();
    for (const m of layout.v1.values()) all.add(join(m.mountpoint, r.cgroupsPath));
    if (layout.unified) all.add(join(layout.unified.mountpoint, r.cgroupsPath));
    return { version: layout.version, all: [...all] };
  }

  // ---- recover ----

  async recover(): Promise<{ running: TaskHandle[]; exited: { taskId: string; status: ExitStatus }[] }> {
    const ready = await this.init();
    const running: TaskHandle[] = [];
    const exited: { taskId: string; status: ExitStatus }[] = [];
    const present = new Set<string>();
    for (const name of await readdir(this.tasksDir)) {
      if (!TASK_ID.test(name)) continue;
      const r = await readRecord(this.taskDir(name));
      if (!r) {
        // No record (a crash before it was written, or damaged state): delete whatever the task
        // may own, found by the names derived from its id.
        await this.purge(ready, name);
        continue;
      }
      present.add(r.taskId);
      this.records.set(r.taskId, r);
      const saved = await readExit(this.taskDir(r.taskId));
      if (saved) {
        this.exits.set(r.taskId, saved);
        exited.push({ taskId: r.taskId, status: saved });
        continue;
      }
      if (r.phase === 'running' && (await isAlive(r.pid, r.pidStart)) && !(await exists(this.exitFile(r)))) {
        if (r.pid && !r.cgroups) {
          const paths = await cgroupPathsOf(r.pid, ready.layout).catch(() => undefined);
          if (paths) r.cgroups = paths;
        }
        running.push(this.handleOf(r));
        continue;
      }
      if (r.phase === 'created' && (await isAlive(r.pid, r.pidStart))) {
        // Created but never started: the agent died in between. It cannot be trusted to start now.
        await ready.cli.kill(r.containerId, 'SIGKILL', true);
        await this.exitedWithin(r.taskId, 5_000);
      }
      exited.push({ taskId: r.taskId, status: await this.finalize(r) });
    }
    // Tasks between two runs (removed to be restarted in place) when the agent stopped: reported
    // as exited, so the agent starts them again (same address) or removes them.
    for (const name of await readdir(this.previousDir)) {
      const taskId = name.endsWith('.log') ? name.slice(0, -'.log'.length) : '';
      if (!TASK_ID.test(taskId) || present.has(taskId)) continue;
      present.add(taskId);
      const status = (await readJson<ExitStatus>(this.previousExit(taskId))) ?? exitStatusFrom(null, false);
      exited.push({ taskId, status });
    }
    // Addresses held by tasks that no longer exist (a crash between allocation and record).
    for (const [addr, owner] of Object.entries(await ready.ipam.list())) {
      if (!present.has(owner)) await ready.ipam.release(addr, owner);
    }
    return { running, exited };
  }

  // ---- exec, stats, logs ----

  async exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const ready = await this.init();
    const r = await this.requireRecord(taskId);
    if (r.phase !== 'running' || this.exits.has(taskId))
      throw fail('NotRunning', `task ${taskId} is not running`, { taskId });
    if (command.length === 0) throw fail('ExecFailed', 'exec needs a command', { taskId });
    const pidFile = join(this.taskDir(taskId), `exec-${randomBytes(4).toString('hex')}.pid`);
    return new Promise<ExecResult>((resolve) => {
      const child = spawn(
        ready.cli.path,
        [...ready.cli.globalArgs, 'exec', '--pid-file', pidFile, r.containerId, ...command],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      let output = '';
      let timedOut = false;
      const append = (d: Buffer): void => {
        if (output.length < OUTPUT_LIMIT) output += d.toString('utf8');
      };
      child.stdout.on('data', append);
      child.stderr.on('data', append);
      let exited = false;
      // On timeout the exec'd process is killed by pid and `runc exec` is left to reap it: killing
      // runc exec itself would orphan the process out of the container's pid namespace, where the
      // namespace's teardown waits for it to be reaped by the host's init.
      const timer = setTimeout(() => {
        timedOut = true;
        killExecByPidFile(pidFile, () => exited, child);
      }, timeoutMs);
      const finish = (code: number): void => {
        exited = true;
        clearTimeout(timer);
        void rm(pidFile, { force: true }).finally(() =>
          resolve({ exitCode: code, output: output.slice(0, OUTPUT_LIMIT), timedOut }),
        );
      };
      child.on('error', (e) => {
        output += e.message;
        finish(127);
      });
      child.on('close', (code, signal) =>
        finish(code ?? (signal ? 128 + (osConstants.signals[signal] ?? 0) : 1)),
      );
    });
  }

  async execStream(taskId: string, command: string[], options: ExecStreamOptions = {}): Promise<ExecSession> {
    const ready = await this.init();
    const r = await this.requireRecord(taskId);
    if (r.phase !== 'running' || this.exits.has(taskId))
      throw fail('NotRunning', `task ${taskId} is not running`, { taskId });
    if (command.length === 0) throw fail('ExecFailed', 'exec needs a command', { taskId });
    return ociExecStream({
      cli: ready.cli.path,
      globalArgs: ready.cli.globalArgs,
      containerId: r.containerId,
      pidFile: join(this.taskDir(taskId), `exec-${randomBytes(4).toString('hex')}.pid`),
      command,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stdin === true ? { stdin: true } : {}),
      ...(options.tty ? { tty: options.tty } : {}),
    });
  }

  async stats(taskId: string): Promise<TaskUsage | undefined> {
    await this.init();
    const r = await this.record(taskId);
    if (!r?.cgroups || r.phase !== 'running' || this.exits.has(taskId)) return undefined;
    return readUsage(r.cgroups);
  }

  logs(taskId: string, options: LogReadOptions = {}): AsyncIterable<LogLine> {
    return this.readLogs(taskId, options);
  }

  private async *readLogs(taskId: string, options: LogReadOptions): AsyncGenerator<LogLine> {
    await this.init();
    if (options.previous === true) {
      const path = this.previousLog(taskId);
      if (!TASK_ID.test(taskId) || !(await exists(path)))
        throw fail('NotFound', `task ${taskId} has no previous run on this host`, { taskId });
      yield* readCriLog(path, { ...options, follow: false }, { finished: () => Promise.resolve(true) });
      return;
    }
    const r = await this.record(taskId);
    if (!r) throw fail('NotFound', `task ${taskId} is not known to the oci runtime`, { taskId });
    yield* readCriLog(join(this.taskDir(taskId), 'ctr.log'), options, {
      finished: async () => {
        if (!this.records.has(taskId) || this.exits.has(taskId)) return true;
        return exists(this.exitFile(r));
      },
    });
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
    await this.helper.close();
  }

  // ---- for tests and tools ----

  /** The runtime's bridge network (e.g. to destroy it when a test is done). */
  async network(): Promise<BridgeNetwork> {
    return (await this.init()).network;
  }

  /** Containers the OCI runtime has in its state directory. */
  async containers(): Promise<{ id: string; status: string; pid: number }[]> {
    const ready = await this.init();
    return (await ready.cli.list()).map((c) => ({ id: c.id, status: c.status, pid: c.pid }));
  }

  /** The task's cgroup directories (as read from /proc/PID/cgroup when it started). */
  async cgroupsOf(taskId: string): Promise<CgroupPaths | undefined> {
    return (await this.record(taskId))?.cgroups;
  }

  /** Host-global names the task uses (namespace, veth, cgroup leaf). */
  async resourcesOf(
    taskId: string,
  ): Promise<{ netns: string; hostVeth: string; cgroupLeaf: string; taskDir: string } | undefined> {
    const r = await this.record(taskId);
    return (
      r && { netns: r.netns, hostVeth: r.hostVeth, cgroupLeaf: r.cgroupLeaf, taskDir: this.taskDir(taskId) }
    );
  }
}

/** Like Promise.all, but rejects (with the first failure) only once every promise has settled. */
async function settleAll<T extends Promise<unknown>[]>(
  ps: readonly [...T],
): Promise<{ [K in keyof T]: Awaited<T[K]> }> {
  for (const r of await Promise.allSettled(ps)) if (r.status === 'rejected') throw r.reason;
  return Promise.all(ps);
}

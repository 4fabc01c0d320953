/**
 * The oci runtime: each task is a container run by runc or crun under conmon, with its root
 * filesystem an overlay of the image's shared layers, its own network namespace on the agent's
 * bridge, cgroup limits from the task's resources, and Docker-like confinement (capabilities,
 * seccomp, masked paths, no_new_privs). Everything a task owns is named after it so remove() can
 * find and delete it, and recover() can pick tasks up again after an agent restart.
 * This file keeps the bookkeeping (records, starts in progress, removals); the steps are beside
 * it: setup.ts, start-task.ts, exits.ts, teardown.ts, exec-once.ts, health-check.ts.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { messageOf } from '../../errors/index.ts';
import type { ImageInfo, ImageStore } from '../../image/index.ts';
import { createLogger, sleep, type Logger } from '../../lib/index.ts';
import type { LogDrop, TaskUsage } from '../../model/index.ts';
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
import { Admission } from './admission.ts';
import { exists, readUsage, type CgroupPaths } from './cgroups.ts';
import { ContainerLogs } from './container-logs.ts';
import { ociExecOnce } from './exec-once.ts';
import { ociExecStream } from './exec-stream.ts';
import { exitStatusFrom } from './exit-status.ts';
import { ExitTracker } from './exits.ts';
import { ForkHelper } from './fork-helper.ts';
import { ociHealthCheck } from './health-check.ts';
import { parseSubnet } from './ipam.ts';
import type { BridgeNetwork } from './network.ts';
import { OciPaths } from './paths.ts';
import { PrecompiledSeccomp } from './seccomp-bpf.ts';
import { chooseSeccompProfile, type SeccompChoice } from './seccomp-distribution.ts';
import { HELPER_PREFIX, helpersBase, setupOci, type Ready } from './setup.ts';
import { DEFAULT_CAPABILITIES } from './spec.ts';
import { newRecord, startContainer, startError } from './start-task.ts';
import { StartTrace, logStarted } from './start-trace.ts';
import type { TaskContext } from './task-context.ts';
import { LookupCache, TASK_ID, fail } from './support.ts';
import { handleOf, isAlive, readExit, readRecord, type TaskRecord } from './task-record.ts';
import type { OciRuntimeOptions } from './options.ts';
import { readoptRunning, recoverTasks } from './recover.ts';
import { forgetTask, purgeTask, releaseTask } from './teardown.ts';
import { readTaskLog } from './task-logs.ts';

export { exitStatusFrom, type OciRuntimeOptions };

export class OciRuntime implements Runtime {
  readonly name = 'oci';
  readonly stateDir: string;
  private readonly images: ImageStore;
  private readonly logger: Logger;
  private readonly options: OciRuntimeOptions;
  private readonly paths: OciPaths;
  private readonly cgroupParent: string;
  private ready: Promise<Ready> | undefined;
  private readonly records = new Map<string, TaskRecord>();
  private readonly removing = new Set<string>();
  /** When tasks' processes end (exit files, statuses, waiters). */
  private readonly exits: ExitTracker;
  /** Starts in progress: stop, wait and remove of such a task first wait for the start to settle. */
  private readonly starting = new Map<string, Promise<unknown>>();
  /** Runs the host tools (ip, mount, runc) without forking the agent; see fork-helper.ts. */
  private readonly helper: ForkHelper;
  private readonly helpersDir: string;
  private readonly containerLogs: ContainerLogs;
  /** Starts under way at most (maxConcurrentStarts). */
  private readonly admission: Admission;
  /** Command and user look-ups by image digest (a new task's root filesystem is the image's). */
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
  /** That profile compiled to BPF once, for crun. */
  readonly #seccompBpf: PrecompiledSeccomp;
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
    this.paths = new OciPaths(options.stateDir, options.runtimeRoot);
    this.stateDir = this.paths.stateDir;
    this.#seccompBpf = new PrecompiledSeccomp(this.stateDir, this.#seccomp.profile);
    this.images = options.images;
    this.logger = options.logger ?? createLogger('oci-runtime');
    if (this.#seccomp.reason !== undefined) this.logger.warn({ seccomp: 'built-in' }, this.#seccomp.reason);
    this.exits = new ExitTracker({
      paths: this.paths,
      records: this.records,
      removing: this.removing,
      logger: this.logger,
    });
    this.admission = new Admission(options.maxConcurrentStarts ?? Infinity);
    this.containerLogs = new ContainerLogs(this.paths, this.logger);
    this.helpersDir = helpersBase(this.stateDir);
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
        { subnet: next.subnet, inUse: this.assigned?.subnet ?? '10.88.0.0/16' },
        "the host's task range changed while the runtime runs; it applies after a restart",
      );
    }
    this.assigned = next;
  }

  /** The host setup, once (`fresh`: again, for restart). */
  private init(fresh = false): Promise<Ready> {
    if (fresh) this.ready = undefined;
    this.ready ??= setupOci({
      paths: this.paths,
      ociRuntime: this.options.ociRuntime,
      network: this.options.network,
      assigned: this.assigned,
      helpersDir: this.helpersDir,
      run: this.helper.run,
      logger: this.logger,
    }).then(
      (ready) => {
        this.exits.watch();
        return ready;
      },
      (e: unknown) => {
        this.ready = undefined;
        throw e;
      },
    );
    return this.ready;
  }

  private context(ready: Ready): TaskContext {
    return {
      ready,
      paths: this.paths,
      images: this.images,
      helper: this.helper,
      logger: this.logger,
      cgroupParent: this.cgroupParent,
      seccomp: this.#seccomp.profile,
      seccompBpf: this.#seccompBpf,
      lookups: this.lookups,
      logSizeMax: this.options.logSizeMax,
      containerLogs: this.containerLogs,
    };
  }

  private async record(taskId: string): Promise<TaskRecord | undefined> {
    if (!TASK_ID.test(taskId)) return undefined;
    const cached = this.records.get(taskId);
    if (cached) {
      // Another instance may have removed it meanwhile (after an agent restart, say).
      if (
        this.starting.has(taskId) ||
        this.removing.has(taskId) ||
        (await exists(this.paths.taskDir(taskId)))
      )
        return cached;
      this.records.delete(taskId);
      this.exits.exits.delete(taskId);
      return undefined;
    }
    const r = await readRecord(this.paths.taskDir(taskId));
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
    const trace = new StartTrace();
    const ready = await this.init();
    const { taskId, spec } = launch;
    if (!TASK_ID.test(taskId))
      throw fail('StartFailed', `bad task id "${taskId}" (letters, digits, . _ -; at most 63)`);
    const taskDir = this.paths.taskDir(taskId);
    // Synchronous calls on the start's path (see writeSmallFile in task-record.ts).
    if (this.records.has(taskId) || existsSync(taskDir)) {
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
    const ctx = this.context(ready);
    const rec = newRecord(ctx, launch, image);
    mkdirSync(taskDir, { recursive: true, mode: 0o711 });
    trace.mark('taskDir');
    this.records.set(taskId, rec);
    try {
      const took = await startContainer(ctx, launch, image, rec, trace);
      logStarted(this.logger, rec, took, trace);
      void this.exits.check(taskId);
      return handleOf(rec);
    } catch (e) {
      // A task between two runs (restarted in place) keeps its address for the next attempt, and
      // remove() releases it; a first start that fails leaves nothing behind.
      const keepAddress = await exists(this.paths.previousLog(taskId));
      await this.destroy(rec, { keepAddress, keepLog: false }).catch((err: unknown) =>
        this.logger.warn({ taskId, err: messageOf(err) }, 'cleanup after failed start'),
      );
      throw startError(e, taskId, spec.image);
    }
  }

  // ---- exit ----
  async wait(taskId: string): Promise<ExitStatus> {
    await this.init();
    await this.settled(taskId);
    const known = this.exits.exits.get(taskId);
    if (known) return known;
    const r = await this.requireRecord(taskId);
    const saved = await readExit(this.paths.taskDir(taskId));
    if (saved) {
      this.exits.exits.set(taskId, saved);
      return saved;
    }
    const waiting = this.exits.waiter(taskId);
    // A start that never completed: nothing will ever exit.
    if (r.phase === 'creating') return this.exits.finalize(r);
    void this.exits.check(taskId);
    return waiting;
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
    if (!this.exits.exits.has(taskId) && !(await readExit(this.paths.taskDir(taskId)))) {
      if (graceMs > 0) {
        await ready.cli.kill(r.containerId, 'SIGTERM');
        if (await this.exitedWithin(taskId, graceMs)) return this.deleteContainer(ready, r);
      }
      const killed = await ready.cli.kill(r.containerId, 'SIGKILL', true);
      if (killed.code !== 0)
        this.logger.warn(
          { taskId, code: killed.code, stderr: killed.stderr.trim().slice(0, 500) },
          'kill --all SIGKILL failed; killing the task process directly',
        );
      // runc has been seen to answer `kill --all` with success and leave the container running (2 of
      // 35 stops of the runtime contract on a loaded machine, until the fallback 10 s later): after a
      // second without the exit, the init is killed directly (its pid namespace goes with it).
      if (killed.code !== 0 || !(await this.exitedWithin(taskId, 1_000))) {
        if (r.pid && (await isAlive(r.pid, r.pidStart))) process.kill(r.pid, 'SIGKILL');
        if (!(await this.exitedWithin(taskId, 10_000))) {
          throw fail('StopFailed', `task ${taskId} (pid ${r.pid}) did not exit after SIGKILL`, { taskId });
        }
      }
    }
    await this.deleteContainer(ready, r);
  }

  private async deleteContainer(ready: Ready, r: TaskRecord): Promise<void> {
    await this.exits.finalize(r);
    await ready.cli.delete(r.containerId, true);
  }

  // ---- remove ----
  async remove(taskId: string, options: RemoveOptions = {}): Promise<void> {
    const ready = await this.init();
    await this.settled(taskId);
    const r = await this.record(taskId);
    if (!r) {
      if (!TASK_ID.test(taskId)) return;
      const ctx = this.context(ready);
      if (await exists(this.paths.taskDir(taskId))) await purgeTask(ctx, taskId);
      // Between two runs (or left so by an agent that died then): the address and previous log.
      if (!options.restarting) await forgetTask(ctx, taskId);
      return;
    }
    if (r.phase !== 'creating') await this.stop(taskId, 0);
    const restarting = options.restarting === true;
    await this.destroy(r, { keepAddress: restarting, keepLog: restarting });
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
    this.removing.add(r.taskId);
    try {
      await releaseTask(this.context(ready), r, keep, this.exits.exits.get(r.taskId));
    } finally {
      this.records.delete(r.taskId);
      this.removing.delete(r.taskId);
      this.exits.forget(r.taskId);
    }
  }

  // ---- recover ----
  async recover(): Promise<{ running: TaskHandle[]; exited: { taskId: string; status: ExitStatus }[] }> {
    const ready = await this.init();
    return recoverTasks({
      ready,
      paths: this.paths,
      records: this.records,
      exits: this.exits,
      teardown: this.context(ready),
      exitedWithin: (taskId, ms) => this.exitedWithin(taskId, ms),
    });
  }

  // ---- exec, stats, logs ----
  private async runningRecord(taskId: string, command: string[]): Promise<{ ready: Ready; r: TaskRecord }> {
    const ready = await this.init();
    const r = await this.requireRecord(taskId);
    if (r.phase !== 'running' || this.exits.exits.has(taskId))
      throw fail('NotRunning', `task ${taskId} is not running`, { taskId });
    if (command.length === 0) throw fail('ExecFailed', 'exec needs a command', { taskId });
    return { ready, r };
  }

  private async execTarget(
    taskId: string,
    command: string[],
  ): Promise<{ cli: string; globalArgs: string[]; containerId: string; pidFile: string }> {
    const { ready, r } = await this.runningRecord(taskId, command);
    const pidFile = join(this.paths.taskDir(taskId), `exec-${randomBytes(4).toString('hex')}.pid`);
    return { cli: ready.cli.path, globalArgs: ready.cli.globalArgs, containerId: r.containerId, pidFile };
  }

  async exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    return ociExecOnce({ ...(await this.execTarget(taskId, command)), command, timeoutMs });
  }

  async execStream(taskId: string, command: string[], options: ExecStreamOptions = {}): Promise<ExecSession> {
    return ociExecStream({
      ...(await this.execTarget(taskId, command)),
      command,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stdin === true ? { stdin: true } : {}),
      ...(options.tty ? { tty: options.tty } : {}),
    });
  }

  async stats(taskId: string): Promise<TaskUsage | undefined> {
    await this.init();
    const r = await this.record(taskId);
    if (!r?.cgroups || r.phase !== 'running' || this.exits.exits.has(taskId)) return undefined;
    return readUsage(r.cgroups);
  }

  async *logs(taskId: string, options: LogReadOptions = {}): AsyncGenerator<LogLine> {
    await this.init();
    const r = options.previous === true ? undefined : await this.record(taskId);
    yield* readTaskLog(this.paths, taskId, options, r, {
      finished: async () => {
        if (!this.records.has(taskId) || this.exits.exits.has(taskId)) return true;
        return r !== undefined && exists(this.paths.exitFile(r));
      },
      drained: () => this.containerLogs.written(taskId),
    });
  }

  /** The windows in which a task's output could not be written (counted by the log writer). */
  logDrops(taskId: string, options: { previous?: boolean } = {}): Promise<LogDrop[]> {
    return this.containerLogs.drops(taskId, options);
  }

  /** The agent's self-check: the binaries there, `runc/crun list` answering (health-check.ts). */
  healthCheck = (): Promise<string | undefined> =>
    this.init().then(ociHealthCheck, (e: unknown) => `the runtime cannot be set up: ${messageOf(e)}`);

  /** Remediation's restart-runtime: the host setup again, running containers re-adopted as they are. */
  restart = (): Promise<string> => this.init(true).then((r) => readoptRunning(r, this.records.values()));

  async close(): Promise<void> {
    this.containerLogs.close();
    this.exits.close();
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
      r && {
        netns: r.netns,
        hostVeth: r.hostVeth,
        cgroupLeaf: r.cgroupLeaf,
        taskDir: this.paths.taskDir(taskId),
      }
    );
  }
}

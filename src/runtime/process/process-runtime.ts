/**
 * The process runtime: each task is a plain child process (no namespaces, no image), started
 * detached in its own session and process group so it outlives the agent. Its output goes to named
 * pipes that the log writer (log-writer.ts, a small process that outlives the agent, as conmon
 * does) writes to files in the task's directory, never through pipes the agent holds, so an agent
 * crash cannot SIGPIPE it, and a full or read-only disk drops (and counts) its output instead of
 * failing its writes. Per-task state on disk lets a new agent re-adopt it (recover()).
 *
 * Layout under stateDir: tasks/ID/{state.json, exit.json, stdout.pipe, stderr.pipe,
 * stdout.log[.N], stderr.log[.N], log-drops.json, work/}.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { messageOf, NotFoundError, RuntimeError } from '../../errors/index.ts';
import { silentLogger, type Logger } from '../../lib/index.ts';
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
import { portEnv } from '../port-env.ts';
import { keepTail } from '../previous-log.ts';
import { processExecStream } from './exec-stream.ts';
import { runExec } from './exec.ts';
import { DEFAULT_PATH, launchCommand } from './launch-command.ts';
import { DROPS_FILE, readDrops } from './log-drops.ts';
import { pipePath } from './log-writer.ts';
import { DEFAULT_PORT_RANGE, PortAllocator, type PortRange } from './port-allocator.ts';
import { isAlive, readStat, rssBytes, SharedProcScan, ticksToSeconds } from './proc.ts';
import { TaskLogs } from './task-logs.ts';
import { openTaskOutputs } from './task-output.ts';
import {
  TASK_ID,
  drainOutput,
  exists,
  newTaskRecord,
  startError,
  taskHandle,
  trySignal,
  unknownExit,
  watchChild,
  type TaskRecord,
} from './task-record.ts';
import {
  EXIT_FILE,
  readExitStatus,
  readTaskState,
  STATE_FILE,
  writeJsonAtomic,
  type TaskState,
} from './task-state.ts';
import { checkAdopted, sessionPids, stopTask, taskAlive } from './task-stop.ts';
import { WriterClient } from './writer-client.ts';
import { spawnCheck } from '../spawn-check.ts';

export interface ProcessRuntimeOptions {
  /** Directory the runtime owns; survives agent restarts. */
  stateDir: string;
  logger?: Logger;
  /** Host ports handed to tasks' declared ports. Default 20000-32000. */
  portRange?: PortRange;
  /** A log file is rotated once larger than this. Default 10 MiB. */
  logMaxBytes?: number;
  /** Rotated log files kept per stream. Default 3. */
  logFiles?: number;
  /** How often log sizes are checked. Default 5 s. */
  logCheckIntervalMs?: number;
  /** How often an adopted (not our child) task is checked for exit. Default 250 ms. */
  pollIntervalMs?: number;
  /** The address tasks are reported reachable at (tasks share the host's network). Default 127.0.0.1. */
  address?: string;
}

export class ProcessRuntime implements Runtime {
  readonly name = 'process';
  readonly #stateDir: string;
  readonly #tasksDir: string;
  /** Logs of tasks' previous runs, kept across restarts in place: <id>/stdout.log, stderr.log. */
  readonly #previousDir: string;
  readonly #log: Logger;
  readonly #ports: PortAllocator;
  readonly #logMaxBytes: number;
  readonly #logFiles: number;
  readonly #pollMs: number;
  readonly #address: string;
  readonly #tasks = new Map<string, TaskRecord>();
  readonly #starting = new Set<string>();
  /** /proc read once for the usage of every task asked within half a second (stats). */
  readonly #procScan = new SharedProcScan();
  readonly #rotateTimer: NodeJS.Timeout;
  readonly #writer: WriterClient;
  #closed = false;

  constructor(options: ProcessRuntimeOptions) {
    this.#stateDir = resolve(options.stateDir);
    this.#tasksDir = join(this.#stateDir, 'tasks');
    this.#previousDir = join(this.#stateDir, 'previous');
    this.#log = (options.logger ?? silentLogger).child({ component: 'runtime.process' });
    this.#ports = new PortAllocator(options.portRange ?? DEFAULT_PORT_RANGE);
    this.#logMaxBytes = options.logMaxBytes ?? 10 * 1024 * 1024;
    this.#logFiles = options.logFiles ?? 3;
    this.#pollMs = options.pollIntervalMs ?? 250;
    this.#address = options.address ?? '127.0.0.1';
    this.#rotateTimer = setInterval(() => void this.rotateLogs(), options.logCheckIntervalMs ?? 5000);
    this.#rotateTimer.unref();
    this.#writer = new WriterClient(this.#stateDir);
  }

  async start(launch: TaskLaunch): Promise<TaskHandle> {
    const { taskId } = launch;
    if (!TASK_ID.test(taskId)) {
      throw startError(taskId, 'StartFailed', `invalid task id "${taskId}"`);
    }
    if (this.#closed) throw startError(taskId, 'Closed', 'runtime is closed');
    if (this.#tasks.has(taskId) || this.#starting.has(taskId)) {
      throw startError(taskId, 'AlreadyExists', `task ${taskId} already exists`);
    }
    this.#starting.add(taskId);
    try {
      return await this.#start(launch);
    } finally {
      this.#starting.delete(taskId);
    }
  }

  async #start(launch: TaskLaunch): Promise<TaskHandle> {
    const { taskId, spec } = launch;
    const dir = join(this.#tasksDir, taskId);
    const left = await readTaskState(dir);
    if (left !== undefined && (await isAlive(left.pid, left.procStartTime))) {
      throw startError(taskId, 'AlreadyExists', `task ${taskId} is already running (pid ${left.pid})`);
    }
    await rm(dir, { recursive: true, force: true });

    const { name, args, file, workDir, cwd, env: envWithoutPorts } = await launchCommand(launch, dir);

    const allocated = await this.#ports.allocate(spec.ports.length);
    const ports: Record<string, number> = {};
    spec.ports.forEach((p, i) => (ports[p.name] = allocated[i] ?? 0));
    const env = { ...envWithoutPorts, ...portEnv(spec.ports, ports) };

    let child: ChildProcess | undefined;
    let record: TaskRecord | undefined;
    let spawnError: NodeJS.ErrnoException | undefined;
    try {
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      const logs = new TaskLogs(dir, { maxBytes: this.#logMaxBytes, keep: this.#logFiles });
      const { out, err, shipped } = await openTaskOutputs(this.#writer, taskId, dir, logs, this.#log);
      const rec = this.#newRecord(dir, logs, shipped, {
        format: 1,
        taskId,
        job: launch.job,
        version: launch.version,
        pid: 0,
        procStartTime: null,
        ports,
        startedAt: Date.now(),
        command: spec.command,
        env,
        cwd,
      });
      record = rec;
      let spawned: Promise<void>;
      try {
        child = spawn(file, args, {
          argv0: name,
          cwd,
          env,
          detached: true, // setsid(): own session and process group, survives the agent
          stdio: ['ignore', out.fd, err.fd],
        });
        // Listen before anything else is awaited: the events come on the next ticks.
        watchChild(rec, child, this.#log);
        const c = child;
        spawned = new Promise<void>((ok, fail) => {
          c.once('spawn', ok);
          c.once('error', (e) => {
            spawnError = e;
            fail(e);
          });
        });
        spawned.catch(() => undefined); // awaited below, after the handles are closed
      } finally {
        await out.close();
        await err.close();
      }
      await spawned;
      const pid = child.pid;
      if (pid === undefined) throw new Error('spawned process has no pid');
      rec.state.pid = pid;
      rec.state.procStartTime = (await readStat(pid))?.startTime ?? null;
      await writeJsonAtomic(dir, STATE_FILE, rec.state);
      if (rec.exit !== undefined) await writeJsonAtomic(dir, EXIT_FILE, rec.exit); // a very short task
      child.unref();
      this.#tasks.set(taskId, rec);
      this.#log.info({ taskId, pid, ports, command: spec.command }, 'task started');
      return taskHandle(rec, this.#address);
    } catch (e) {
      if (record !== undefined) record.removed = true;
      if (child?.pid !== undefined) {
        trySignal(-child.pid, 'SIGKILL');
        if (record !== undefined) await record.exited;
      }
      this.#ports.release(allocated);
      await rm(dir, { recursive: true, force: true }).catch(() => undefined);
      if (spawnError?.code === 'ENOENT') {
        throw startError(taskId, 'CommandNotFound', `command not found: ${name}`, { command: name }, e);
      }
      throw startError(taskId, 'StartFailed', `cannot start task ${taskId}: ${messageOf(e)}`, {}, e);
    }
  }

  #get(taskId: string): TaskRecord {
    const rec = this.#tasks.get(taskId);
    if (rec === undefined) throw new NotFoundError('task', taskId);
    return rec;
  }

  #newRecord(dir: string, logs: TaskLogs, shipped: boolean, state: TaskState): TaskRecord {
    return newTaskRecord(dir, logs, shipped, state, (ports) => this.#ports.release(ports));
  }

  wait(taskId: string): Promise<ExitStatus> {
    const rec = this.#tasks.get(taskId);
    if (rec === undefined) return Promise.reject(new NotFoundError('task', taskId));
    if (rec.exit !== undefined) return Promise.resolve(rec.exit);
    // Keep the process alive while someone waits (children and pollers are unref'd otherwise).
    rec.waiters++;
    rec.child?.ref();
    if (rec.child === undefined) this.#ensurePoller(rec);
    rec.poller?.ref();
    return rec.exited.finally(() => {
      rec.waiters--;
      if (rec.waiters === 0) rec.child?.unref();
    });
  }

  /** An adopted task is not our child: poll until it is gone. */
  #ensurePoller(rec: TaskRecord): void {
    if (rec.poller !== undefined || rec.exit !== undefined || this.#closed) return;
    rec.poller = setInterval(() => void checkAdopted(rec), this.#pollMs);
    rec.poller.unref();
  }

  stop(taskId: string, graceMs: number): Promise<void> {
    const rec = this.#tasks.get(taskId);
    if (rec === undefined) return Promise.resolve();
    rec.stopping ??= stopTask(rec, graceMs, this.#log).finally(() => (rec.stopping = undefined));
    return rec.stopping;
  }

  async remove(taskId: string, options: RemoveOptions = {}): Promise<void> {
    const rec = this.#tasks.get(taskId);
    if (rec !== undefined) {
      if ((await sessionPids(rec)).length > 0 || rec.exit === undefined) await this.stop(taskId, 0);
      // The rest of its output reaches the log before it is kept or deleted.
      await drainOutput(rec, this.#writer);
      rec.removed = true;
      // The exit record (a temp file, then a rename in the task dir) must not land mid-delete.
      await rec.exitWritten;
      if (rec.poller !== undefined) clearInterval(rec.poller);
      rec.poller = undefined;
      this.#ports.release(Object.values(rec.state.ports));
      this.#tasks.delete(taskId);
    } else if (this.#starting.has(taskId)) {
      return;
    }
    if (!TASK_ID.test(taskId)) return;
    const previous = join(this.#previousDir, taskId);
    if (options.restarting) {
      // The run's output stays readable (logs({ previous })) while the task waits to start again.
      await mkdir(previous, { recursive: true, mode: 0o700 });
      for (const stream of ['stdout', 'stderr'] as const) {
        const file = `${stream}.log`;
        await keepTail(join(this.#tasksDir, taskId, file), join(previous, file));
      }
      await copyFile(join(this.#tasksDir, taskId, DROPS_FILE), join(previous, DROPS_FILE)).catch(
        () => undefined,
      );
    } else {
      await rm(previous, { recursive: true, force: true });
    }
    // A file created in the dir during the delete (a log rotation of a task ending right now)
    // makes one pass of the recursive delete fail with ENOTEMPTY: let it retry.
    await rm(join(this.#tasksDir, taskId), { recursive: true, force: true, maxRetries: 5, retryDelay: 20 });
  }

  async recover(): Promise<{
    running: TaskHandle[];
    exited: { taskId: string; status: ExitStatus }[];
  }> {
    const running: TaskHandle[] = [];
    const exited: { taskId: string; status: ExitStatus }[] = [];
    let names: string[];
    try {
      names = await readdir(this.#tasksDir);
    } catch {
      names = [];
    }
    for (const taskId of names.sort()) {
      if (!TASK_ID.test(taskId) || this.#starting.has(taskId)) continue;
      let rec = this.#tasks.get(taskId);
      if (rec === undefined) {
        const dir = join(this.#tasksDir, taskId);
        const state = await readTaskState(dir);
        if (state === undefined || state.taskId !== taskId) {
          // A start interrupted before its state was written: nothing we could adopt.
          this.#log.warn({ taskId }, 'removing task directory without state');
          await rm(dir, { recursive: true, force: true }).catch(() => undefined);
          continue;
        }
        rec = this.#newRecord(
          dir,
          new TaskLogs(dir, { maxBytes: this.#logMaxBytes, keep: this.#logFiles }),
          await exists(pipePath(dir, 'stdout')),
          state,
        );
        this.#tasks.set(taskId, rec);
        if (await isAlive(state.pid, state.procStartTime)) {
          this.#ports.hold(Object.values(state.ports));
          this.#log.info({ taskId, pid: state.pid }, 'task re-adopted');
        } else {
          rec.settle((await readExitStatus(dir)) ?? unknownExit());
        }
      } else if (rec.exit === undefined) {
        await taskAlive(rec);
      }
      if (rec.exit !== undefined) exited.push({ taskId, status: rec.exit });
      else running.push(taskHandle(rec, this.#address));
    }
    // Tasks between two runs (removed to restart in place) when the agent stopped: the agent
    // starts them again or removes them (and their previous run's log).
    const listed = new Set([...running, ...exited].map((t) => t.taskId));
    for (const taskId of await readdir(this.#previousDir).catch(() => [] as string[])) {
      if (TASK_ID.test(taskId) && !listed.has(taskId) && !this.#tasks.has(taskId))
        exited.push({ taskId, status: unknownExit() });
    }
    return { running, exited };
  }

  async exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const rec = this.#get(taskId);
    if (!(await taskAlive(rec))) {
      throw new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning', taskId } });
    }
    return runExec(command, { env: rec.state.env, cwd: rec.state.cwd, timeoutMs });
  }

  async execStream(taskId: string, command: string[], options: ExecStreamOptions = {}): Promise<ExecSession> {
    const rec = this.#get(taskId);
    if (!(await taskAlive(rec))) {
      throw new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning', taskId } });
    }
    return processExecStream(command, { ...rec.state, defaultPath: DEFAULT_PATH }, options);
  }

  async stats(taskId: string): Promise<TaskUsage | undefined> {
    const rec = this.#tasks.get(taskId);
    if (rec === undefined || !(await taskAlive(rec))) return undefined;
    const main = await readStat(rec.state.pid);
    if (main === undefined) return undefined;
    const members = (await this.#procScan.sessionMembers(rec.state.pid)).filter(
      (m) => rec.state.procStartTime === null || m.startTime >= rec.state.procStartTime,
    );
    if (members.length === 0) return undefined;
    let ticks = main.childCpuTicks; // children it already reaped
    let threads = 0;
    let memory = 0;
    const rss = await Promise.all(members.map((m) => rssBytes(m.pid)));
    members.forEach((m, i) => {
      ticks += m.cpuTicks;
      threads += m.threads;
      memory += rss[i] ?? 0;
    });
    return { cpuSeconds: ticksToSeconds(ticks), memoryBytes: memory, pids: threads };
  }

  async *logs(taskId: string, options: LogReadOptions = {}): AsyncIterable<LogLine> {
    if (options.previous === true) {
      const dir = join(this.#previousDir, taskId);
      if (!TASK_ID.test(taskId) || (await readdir(dir).catch(() => undefined)) === undefined) {
        throw new RuntimeError(`task ${taskId} has no previous run on this host`, {
          details: { reason: 'NotFound', taskId },
        });
      }
      const logs = new TaskLogs(dir, { maxBytes: Infinity, keep: 0 });
      yield* logs.read({ ...options, follow: false }, { exited: () => true, gone: () => true });
      return;
    }
    const rec = this.#get(taskId);
    if (options.follow === true && rec.child === undefined) this.#ensurePoller(rec);
    if (options.follow !== true && rec.exit !== undefined) await drainOutput(rec, this.#writer);
    yield* rec.logs.read(options, {
      // Ended, and all its output is in the log.
      exited: () => {
        if (rec.exit === undefined) return false;
        if (!rec.drained) void drainOutput(rec, this.#writer);
        return rec.drained || !rec.shipped;
      },
      gone: () => rec.removed || this.#closed,
    });
  }

  /** The windows in which a task's output could not be written (its disk full or read-only). */
  async logDrops(taskId: string, options: { previous?: boolean } = {}): Promise<LogDrop[]> {
    if (!TASK_ID.test(taskId)) return [];
    const dir = join(options.previous === true ? this.#previousDir : this.#tasksDir, taskId);
    return (await readDrops(dir)).windows;
  }

  /** Rotates every live task's logs that grew over the limit (also run on a timer). */
  async rotateLogs(): Promise<void> {
    // A writer that was killed is started again while tasks it should ship run.
    if ([...this.#tasks.values()].some((r) => r.shipped && r.exit === undefined && !r.removed))
      await this.#writer
        .ensure()
        .catch((e: unknown) => this.#log.warn({ err: messageOf(e) }, 'no log writer'));
    for (const rec of [...this.#tasks.values()]) {
      if (rec.removed) continue;
      try {
        await rec.logs.rotate();
      } catch (e) {
        if (!rec.removed)
          this.#log.warn({ taskId: rec.state.taskId, err: messageOf(e) }, 'log rotation failed');
      }
    }
  }

  /**
   * Remediation's restart-runtime: what this runtime sets up on the host is its log writer (started
   * again if it was killed, while tasks it ships run) and the ability to start a process (checked);
   * running tasks are kept as they are.
   */
  async restart(): Promise<string> {
    const live = [...this.#tasks.values()].filter((r) => r.exit === undefined && !r.removed);
    if (live.some((r) => r.shipped)) await this.#writer.ensure();
    const problem = await spawnCheck();
    if (problem !== undefined) throw new Error(problem);
    return `process runtime checked (a process starts; log writer running); ${live.length} running task${live.length === 1 ? '' : 's'} kept`;
  }

  /** The agent's self-check: a process can still be started. */
  healthCheck(): Promise<string | undefined> {
    return spawnCheck();
  }

  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#rotateTimer);
    this.#writer.close();
    for (const rec of this.#tasks.values()) {
      if (rec.poller !== undefined) clearInterval(rec.poller);
      rec.poller = undefined;
      rec.child?.unref();
    }
    return Promise.resolve();
  }
}

/**
 * A Runtime that runs nothing: tasks live in memory. `start` answers at once with a made-up pid and
 * address, `wait` resolves when the task is stopped (or made to exit with `exit()`), logs are the
 * lines given to `emit()`. For simulated hosts (many agents in one process, the fleet-scale
 * benchmark) and for tests of code above the runtime. Nothing survives the instance: `recover()`
 * finds nothing unless the same instance is asked again (an agent restart within one process).
 */
import { RuntimeError } from '../../errors/index.ts';
import type { TaskUsage } from '../../model/index.ts';
import type {
  ExecChunk,
  ExecResult,
  ExecSession,
  ExitStatus,
  LogLine,
  LogReadOptions,
  Runtime,
  TaskHandle,
  TaskLaunch,
} from '../runtime.ts';

export interface FakeRuntimeOptions {
  /** Address tasks are "reachable" at (default 127.0.0.1). */
  address?: string;
  /** First fake pid handed out (default 100,000); each start takes the next. */
  firstPid?: number;
  /** First port handed to declared ports (default 20,000). */
  firstPort?: number;
  /** Makes `start` fail for a launch (with a RuntimeError whose details.reason is the answer). */
  failStart?: (launch: TaskLaunch) => string | undefined;
  now?: () => number;
}

interface FakeTask {
  handle: TaskHandle;
  launch: TaskLaunch;
  exit: ExitStatus | undefined;
  waiters: ((s: ExitStatus) => void)[];
  logs: LogLine[];
  followers: Set<() => void>;
}

export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly #tasks = new Map<string, FakeTask>();
  readonly #o: FakeRuntimeOptions;
  #nextPid: number;
  #nextPort: number;
  #closed = false;

  constructor(options: FakeRuntimeOptions = {}) {
    this.#o = options;
    this.#nextPid = options.firstPid ?? 100_000;
    this.#nextPort = options.firstPort ?? 20_000;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Task ids currently running. */
  running(): string[] {
    return [...this.#tasks.values()].filter((t) => t.exit === undefined).map((t) => t.handle.taskId);
  }

  /** The launch a task was started with. */
  launchOf(taskId: string): TaskLaunch | undefined {
    return this.#tasks.get(taskId)?.launch;
  }

  start(launch: TaskLaunch): Promise<TaskHandle> {
    if (this.#closed) return Promise.reject(new RuntimeError('the fake runtime is closed'));
    const reason = this.#o.failStart?.(launch);
    if (reason !== undefined) {
      return Promise.reject(
        new RuntimeError(`task ${launch.taskId} cannot start: ${reason}`, {
          details: { reason, task: launch.taskId },
        }),
      );
    }
    const existing = this.#tasks.get(launch.taskId);
    if (existing && existing.exit === undefined) return Promise.resolve(existing.handle);
    const ports: Record<string, number> = {};
    for (const p of launch.spec.ports) ports[p.name] = this.#nextPort++;
    const handle: TaskHandle = {
      taskId: launch.taskId,
      pid: this.#nextPid++,
      address: this.#o.address ?? '127.0.0.1',
      ports,
      startedAt: this.#now(),
    };
    this.#tasks.set(launch.taskId, {
      handle,
      launch,
      exit: undefined,
      waiters: [],
      logs: [],
      followers: new Set(),
    });
    return Promise.resolve(handle);
  }

  wait(taskId: string): Promise<ExitStatus> {
    const t = this.#tasks.get(taskId);
    if (!t) return Promise.reject(new RuntimeError(`no task ${taskId}`, { details: { reason: 'NotFound' } }));
    if (t.exit) return Promise.resolve(t.exit);
    return new Promise((resolve) => t.waiters.push(resolve));
  }

  /** Makes a running task exit as if its process ended (for tests: crashes, OOM). */
  exit(taskId: string, status: Partial<ExitStatus> = {}): void {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return;
    t.exit = {
      exitCode: status.exitCode ?? 0,
      signal: status.signal ?? null,
      oomKilled: status.oomKilled ?? false,
      reason: status.reason ?? (status.oomKilled ? 'OOMKilled' : 'Exited'),
      finishedAt: status.finishedAt ?? this.#now(),
    };
    for (const w of t.waiters.splice(0)) w(t.exit);
    for (const f of t.followers) f();
  }

  stop(taskId: string, graceMs: number): Promise<void> {
    void graceMs;
    this.exit(taskId, { exitCode: 143, signal: 'SIGTERM', reason: 'Killed' });
    return Promise.resolve();
  }

  remove(taskId: string): Promise<void> {
    const t = this.#tasks.get(taskId);
    if (t && t.exit === undefined) this.exit(taskId, { exitCode: 137, signal: 'SIGKILL', reason: 'Killed' });
    this.#tasks.delete(taskId);
    return Promise.resolve();
  }

  recover(): Promise<{ running: TaskHandle[]; exited: { taskId: string; status: ExitStatus }[] }> {
    const running: TaskHandle[] = [];
    const exited: { taskId: string; status: ExitStatus }[] = [];
    for (const t of this.#tasks.values()) {
      if (t.exit) exited.push({ taskId: t.handle.taskId, status: t.exit });
      else running.push(t.handle);
    }
    return Promise.resolve({ running, exited });
  }

  exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    void timeoutMs;
    const t = this.#tasks.get(taskId);
    if (!t || t.exit)
      return Promise.reject(
        new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning' } }),
      );
    // Exec probes succeed unless the command is literally `false`.
    const failed = command[0] === 'false';
    return Promise.resolve({ exitCode: failed ? 1 : 0, output: '', timedOut: false });
  }

  /** Runs nothing: the command line comes back on stdout; exit 1 for `false`, else 0. */
  execStream(taskId: string, command: string[]): Promise<ExecSession> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit)
      return Promise.reject(
        new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning' } }),
      );
    const line = new TextEncoder().encode(`${command.join(' ')}\n`);
    async function* output(): AsyncGenerator<ExecChunk> {
      await Promise.resolve();
      yield { stream: 'stdout', data: line };
    }
    return Promise.resolve({ output: output(), exit: Promise.resolve(command[0] === 'false' ? 1 : 0) });
  }

  stats(taskId: string): Promise<TaskUsage | undefined> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return Promise.resolve(undefined);
    return Promise.resolve({ cpuSeconds: 0, memoryBytes: 0, pids: 1 });
  }

  /** Appends a line to a task's captured output. */
  emit(taskId: string, text: string, stream: LogLine['stream'] = 'stdout'): void {
    const t = this.#tasks.get(taskId);
    if (!t) return;
    t.logs.push({ stream, time: this.#now(), text });
    for (const f of t.followers) f();
  }

  async *logs(taskId: string, options: LogReadOptions = {}): AsyncIterable<LogLine> {
    const t = this.#tasks.get(taskId);
    if (!t) throw new RuntimeError(`no task ${taskId}`, { details: { reason: 'NotFound' } });
    let i = options.tail === undefined ? 0 : Math.max(0, t.logs.length - options.tail);
    for (;;) {
      while (i < t.logs.length) yield t.logs[i++]!;
      if (!options.follow || t.exit || options.signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const done = (): void => {
          t.followers.delete(done);
          options.signal?.removeEventListener('abort', done);
          resolve();
        };
        t.followers.add(done);
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

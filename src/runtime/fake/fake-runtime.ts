/**
 * A Runtime that runs no process: tasks live in memory. `start` answers at once with a made-up pid
 * and address. A task whose command is `sh -c SCRIPT` follows its script through a little shell
 * (fake-shell.ts: echo, sleep, exit, trap on TERM, loops), so it prints, exits with its code, and
 * answers SIGTERM as the script says; any other command runs until it is stopped (or made to exit
 * with `exit()`), and its output is what `emit()` gives. For simulated hosts (many agents in one
 * process, the fleet-scale benchmark) and for tests of code above the runtime; it passes the runtime
 * contract (fake-runtime.test.ts). Tasks live on a `FakeHost`: runtimes made over the same host (an
 * agent restart within one process) find its tasks with `recover()`; by default each runtime has a
 * host of its own.
 */
import { RuntimeError } from '../../errors/index.ts';
import type { TaskUsage } from '../../model/index.ts';
import { portEnv } from '../port-env.ts';
import { runScript } from './fake-shell.ts';
import { sleep } from '../../lib/index.ts';
import type {
  ExecChunk,
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

export interface FakeRuntimeOptions {
  /** Address tasks are "reachable" at (default 127.0.0.1). */
  address?: string;
  /** First fake pid handed out (default 100,000); each start takes the next. */
  firstPid?: number;
  /** First port handed to declared ports (default 20,000). */
  firstPort?: number;
  /** Makes `start` fail for a launch (with a RuntimeError whose details.reason is the answer). */
  failStart?: (launch: TaskLaunch) => string | undefined;
  /**
   * Whether a program exists on this fake host (default: every one does). A start of one that does
   * not is refused with CommandNotFound; an exec of one answers 127.
   */
  commandExists?: (command: string) => boolean;
  /** The host the tasks live on (shared by runtimes that stand for one agent and its restarts). */
  host?: FakeHost;
  now?: () => number;
}

/** Memory a fake task reports using (it has no process to measure). */
const FAKE_MEMORY_BYTES = 4 * 1024 * 1024;
/** At most this many lines of a run's output are kept as the previous log. */
const PREVIOUS_LINES = 10_000;

interface FakeTask {
  handle: TaskHandle;
  launch: TaskLaunch;
  env: Record<string, string>;
  exit: ExitStatus | undefined;
  waiters: ((s: ExitStatus) => void)[];
  logs: LogLine[];
  /** The log of the run before, kept by a remove with `restarting`. */
  previous: LogLine[] | undefined;
  followers: Set<() => void>;
  /** Aborted when the task's run ends: its script stops. */
  run: AbortController;
  /** The script's TERM trap: undefined (SIGTERM ends it), "" (ignored) or a script to run. */
  trap: string | undefined;
  /** A signal decides how the run ends; the script's own end no longer counts. */
  signalled: boolean;
}

/** The tasks of one fake host, outliving the runtimes (agents) made over it. */
export class FakeHost {
  readonly tasks = new Map<string, FakeTask>();
  nextPid: number;
  nextPort: number;
  constructor(firstPid = 100_000, firstPort = 20_000) {
    this.nextPid = firstPid;
    this.nextPort = firstPort;
  }
}

/** `sh -c SCRIPT` (or /bin/sh): the script; undefined for any other command. */
function scriptOf(command: readonly string[]): string | undefined {
  const [sh, flag, script] = command;
  return (sh === 'sh' || sh === '/bin/sh') && flag === '-c' && script !== undefined ? script : undefined;
}

function notRunning(taskId: string): RuntimeError {
  return new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning' } });
}

export class FakeRuntime implements Runtime {
  readonly name = 'fake';
  readonly host: FakeHost;
  readonly #o: FakeRuntimeOptions;
  #closed = false;
  /** What healthCheck() answers (tests break and mend the runtime with it). */
  broken: string | undefined;

  constructor(options: FakeRuntimeOptions = {}) {
    this.#o = options;
    this.host = options.host ?? new FakeHost(options.firstPid, options.firstPort);
  }

  get #tasks(): Map<string, FakeTask> {
    return this.host.tasks;
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
    const program = launch.spec.command[0] ?? '';
    if (this.#o.commandExists?.(program) === false) {
      return Promise.reject(
        new RuntimeError(`task ${launch.taskId} cannot start: ${program}: command not found`, {
          details: { reason: 'CommandNotFound', task: launch.taskId, command: program },
        }),
      );
    }
    const ports: Record<string, number> = {};
    for (const p of launch.spec.ports) ports[p.name] = this.host.nextPort++;
    const handle: TaskHandle = {
      taskId: launch.taskId,
      pid: this.host.nextPid++,
      address: this.#o.address ?? '127.0.0.1',
      ports,
      startedAt: this.#now(),
    };
    const t: FakeTask = {
      handle,
      launch,
      env: { ...launch.spec.env, ...launch.env, ...portEnv(launch.spec.ports, ports) },
      exit: undefined,
      waiters: [],
      logs: [],
      previous: existing?.previous,
      followers: new Set(),
      run: new AbortController(),
      trap: undefined,
      signalled: false,
    };
    this.#tasks.set(launch.taskId, t);
    const script = scriptOf(launch.spec.command);
    if (script !== undefined) {
      void runScript(script, {
        env: t.env,
        signal: t.run.signal,
        write: (stream, text) => this.#append(t, text, stream),
        onTrap: (action) => (t.trap = action),
      }).then((code) => {
        if (!t.signalled) this.#finish(t, { exitCode: code, reason: 'Exited' });
      });
    }
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
    t.signalled = true;
    this.#finish(t, status);
  }

  #finish(t: FakeTask, status: Partial<ExitStatus>): void {
    if (t.exit) return;
    t.exit = {
      exitCode: status.exitCode ?? 0,
      signal: status.signal ?? null,
      oomKilled: status.oomKilled ?? false,
      reason: status.reason ?? (status.oomKilled ? 'OOMKilled' : 'Exited'),
      finishedAt: status.finishedAt ?? this.#now(),
    };
    t.run.abort();
    for (const w of t.waiters.splice(0)) w(t.exit);
    for (const f of t.followers) f();
  }

  /**
   * Sends a signal to a task's (pretend) process, as `kill` would: SIGKILL ends it with 137; SIGTERM
   * ends it with 143 unless its script trapped TERM (ignored, or the trap's script runs and its
   * status is the task's).
   */
  signal(taskId: string, signal: 'SIGTERM' | 'SIGKILL'): void {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return;
    if (signal === 'SIGKILL') {
      t.signalled = true;
      this.#finish(t, { exitCode: 137, signal: 'SIGKILL', reason: 'Killed' });
      return;
    }
    if (t.trap === '') return;
    t.signalled = true;
    if (t.trap === undefined) {
      this.#finish(t, { exitCode: 143, signal: 'SIGTERM', reason: 'Killed' });
      return;
    }
    t.run.abort();
    const trapRun = new AbortController();
    void runScript(t.trap, {
      env: t.env,
      signal: trapRun.signal,
      write: (stream, text) => this.#append(t, text, stream),
    }).then((code) => this.#finish(t, { exitCode: code, reason: 'Exited' }));
  }

  async stop(taskId: string, graceMs: number): Promise<void> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return;
    this.signal(taskId, 'SIGTERM');
    const ended = this.wait(taskId);
    const grace = new AbortController();
    await Promise.race([ended, sleep(graceMs, grace.signal)]);
    grace.abort();
    this.signal(taskId, 'SIGKILL');
    await ended;
  }

  remove(taskId: string, options: RemoveOptions = {}): Promise<void> {
    const t = this.#tasks.get(taskId);
    if (!t) return Promise.resolve();
    this.signal(taskId, 'SIGKILL');
    if (options.restarting) {
      // Between two runs: the ended run's log becomes the previous one; recover() reports it exited.
      t.previous = t.logs.slice(-PREVIOUS_LINES);
      t.logs = [];
    } else this.#tasks.delete(taskId);
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

  async exec(taskId: string, command: string[], timeoutMs: number): Promise<ExecResult> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) throw notRunning(taskId);
    const out: string[] = [];
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), timeoutMs);
    try {
      const code = await this.#run(t, command, timer.signal, (_stream, text) => out.push(text));
      return { exitCode: code, output: out.join('\n'), timedOut: timer.signal.aborted };
    } finally {
      clearTimeout(timeout);
    }
  }

  execStream(taskId: string, command: string[], options: ExecStreamOptions = {}): Promise<ExecSession> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return Promise.reject(notRunning(taskId));
    // Its built-in shell reads no input and has no terminal: say so instead of ignoring the ask.
    if (options.stdin === true || options.tty !== undefined)
      return Promise.reject(
        new RuntimeError('the fake runtime has no interactive exec (stdin or a terminal)', {
          details: { reason: 'Unsupported' },
        }),
      );
    const chunks: ExecChunk[] = [];
    let wake: (() => void) | undefined;
    let ended = false;
    const encoder = new TextEncoder();
    const signal = options.signal ?? new AbortController().signal;
    const exit = this.#run(t, command, signal, (stream, text) => {
      chunks.push({ stream, data: encoder.encode(`${text}\n`) });
      wake?.();
    }).finally(() => {
      ended = true;
      wake?.();
    });
    async function* output(): AsyncGenerator<ExecChunk> {
      for (;;) {
        const c = chunks.shift();
        if (c) {
          yield c;
          continue;
        }
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    }
    return Promise.resolve({ output: output(), exit });
  }

  /**
   * Runs an exec'd command: `sh -c SCRIPT` through the fake shell (137 when aborted); a program
   * the host lacks answers 127; any other command prints its command line and answers 0 (1 for
   * `false`).
   */
  async #run(
    t: FakeTask,
    command: string[],
    signal: AbortSignal,
    write: (stream: 'stdout' | 'stderr', text: string) => void,
  ): Promise<number> {
    const script = scriptOf(command);
    if (script !== undefined) return runScript(script, { env: t.env, signal, write });
    const program = command[0] ?? '';
    if (this.#o.commandExists?.(program) === false) {
      write('stderr', `${program}: command not found`);
      return 127;
    }
    await Promise.resolve();
    write('stdout', command.join(' '));
    return program === 'false' ? 1 : 0;
  }

  stats(taskId: string): Promise<TaskUsage | undefined> {
    const t = this.#tasks.get(taskId);
    if (!t || t.exit) return Promise.resolve(undefined);
    const cpuSeconds = (this.#now() - t.handle.startedAt) / 1000 / 1000;
    return Promise.resolve({ cpuSeconds: Math.max(0, cpuSeconds), memoryBytes: FAKE_MEMORY_BYTES, pids: 1 });
  }

  /** Appends a line to a task's captured output. */
  emit(taskId: string, text: string, stream: LogLine['stream'] = 'stdout'): void {
    const t = this.#tasks.get(taskId);
    if (t) this.#append(t, text, stream);
  }

  #append(t: FakeTask, text: string, stream: LogLine['stream']): void {
    t.logs.push({ stream, time: this.#now(), text });
    for (const f of t.followers) f();
  }

  async *logs(taskId: string, options: LogReadOptions = {}): AsyncIterable<LogLine> {
    const t = this.#tasks.get(taskId);
    if (!t) throw new RuntimeError(`no task ${taskId}`, { details: { reason: 'NotFound' } });
    if (options.previous) {
      const previous = t.previous;
      if (previous === undefined)
        throw new RuntimeError(`task ${taskId} has no previous run`, { details: { reason: 'NotFound' } });
      const from = options.tail === undefined ? 0 : Math.max(0, previous.length - options.tail);
      yield* previous.slice(from);
      return;
    }
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

  healthCheck(): Promise<string | undefined> {
    return Promise.resolve(this.broken);
  }

  /** What restart() fails with (tests); undefined: a restart mends the runtime (`broken` cleared). */
  restartFails: string | undefined;
  /** How many times restart() was called. */
  restarts = 0;

  restart(): Promise<string> {
    this.restarts++;
    if (this.restartFails !== undefined) return Promise.reject(new Error(this.restartFails));
    this.broken = undefined;
    return Promise.resolve('fake runtime set up again');
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}

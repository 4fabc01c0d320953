/**
 * For the TaskRunner tests: a runtime with one scripted process whose start/stop/remove/exec can
 * be held at chosen points (gates).
 */
import { RuntimeError } from '../errors/index.ts';
import type { TaskUsage } from '../model/index.ts';
import type {
  ExecResult,
  ExecSession,
  ExitStatus,
  LogLine,
  Runtime,
  TaskHandle,
  TaskLaunch,
} from '../runtime/index.ts';

// ---- holding points -------------------------------------------------------------------------

export interface Gate {
  /** Resolves when the held call has arrived at the gate. */
  reached: Promise<void>;
  /** Lets the held call go on. */
  release(): void;
}

/** One-shot gates for the next calls of one operation; calls with no gate queued go straight on. */
export class Gates {
  readonly #queue: { reach: () => void; open: Promise<void>; release: () => void }[] = [];
  readonly #all: (() => void)[] = [];

  hold(): Gate {
    const reached = Promise.withResolvers<void>();
    const open = Promise.withResolvers<void>();
    this.#queue.push({ reach: reached.resolve, open: open.promise, release: open.resolve });
    this.#all.push(open.resolve);
    return { reached: reached.promise, release: open.resolve };
  }

  async pass(): Promise<void> {
    const g = this.#queue.shift();
    if (!g) return;
    g.reach();
    await g.open;
  }

  releaseAll(): void {
    for (const r of this.#all) r();
    this.#queue.length = 0;
  }
}

// ---- a runtime with one scripted process ----------------------------------------------------

export type Op = 'start' | 'stop' | 'remove' | 'exec' | 'stats';

export interface Proc {
  handle: TaskHandle;
  exit: PromiseWithResolvers<ExitStatus>;
  ended: boolean;
}

export class ScriptedRuntime implements Runtime {
  readonly name = 'scripted';
  /** Calls in order: "start", "start returned", "stop", "remove", ... */
  readonly calls: string[] = [];
  starts = 0;
  /** Exec probes fail while set (a liveness exec probe then fails). */
  execFails = false;
  /** Makes start reject with this reason. */
  startFails: string | undefined;
  readonly #gates = new Map<Op, Gates>();
  #proc: Proc | undefined;
  #nextPid = 1000;

  hold(op: Op): Gate {
    let g = this.#gates.get(op);
    if (!g) this.#gates.set(op, (g = new Gates()));
    return g.hold();
  }

  releaseAll(): void {
    for (const g of this.#gates.values()) g.releaseAll();
  }

  async #pass(op: Op): Promise<void> {
    await this.#gates.get(op)?.pass();
  }

  /** Whether the task's process is running. */
  get alive(): boolean {
    return this.#proc !== undefined && !this.#proc.ended;
  }

  /** The process ends by itself. */
  exit(exitCode: number): void {
    this.#end(exitCode, null, 'Exited');
  }

  #end(exitCode: number, signal: string | null, reason: string): void {
    const p = this.#proc;
    if (!p || p.ended) return;
    p.ended = true;
    p.exit.resolve({ exitCode, signal, oomKilled: false, reason, finishedAt: Date.now() });
  }

  async start(launch: TaskLaunch): Promise<TaskHandle> {
    this.starts++;
    this.calls.push('start');
    await this.#pass('start');
    if (this.startFails !== undefined) {
      this.calls.push('start failed');
      throw new RuntimeError(`cannot start: ${this.startFails}`, { details: { reason: this.startFails } });
    }
    if (this.alive) throw new RuntimeError('already running', { details: { reason: 'AlreadyExists' } });
    const handle: TaskHandle = {
      taskId: launch.taskId,
      pid: this.#nextPid++,
      address: '127.0.0.1',
      ports: {},
      startedAt: Date.now(),
    };
    this.#proc = { handle, exit: Promise.withResolvers<ExitStatus>(), ended: false };
    this.calls.push('start returned');
    return handle;
  }

  wait(taskId: string): Promise<ExitStatus> {
    if (!this.#proc)
      return Promise.reject(new RuntimeError(`no task ${taskId}`, { details: { reason: 'NotFound' } }));
    return this.#proc.exit.promise;
  }

  async stop(_taskId: string, _graceMs: number): Promise<void> {
    this.calls.push('stop');
    await this.#pass('stop');
    this.#end(143, 'SIGTERM', 'Killed');
  }

  async remove(_taskId: string): Promise<void> {
    this.calls.push('remove');
    await this.#pass('remove');
    this.#end(137, 'SIGKILL', 'Killed');
    this.#proc = undefined;
  }

  recover(): Promise<{ running: TaskHandle[]; exited: { taskId: string; status: ExitStatus }[] }> {
    return Promise.resolve({ running: [], exited: [] });
  }

  async exec(taskId: string, _command: string[], _timeoutMs: number): Promise<ExecResult> {
    await this.#pass('exec');
    if (!this.alive)
      throw new RuntimeError(`task ${taskId} is not running`, { details: { reason: 'NotRunning' } });
    return { exitCode: this.execFails ? 1 : 0, output: '', timedOut: false };
  }

  execStream(taskId: string): Promise<ExecSession> {
    return Promise.reject(
      new RuntimeError(`task ${taskId}: the scripted runtime does not stream execs`, {
        details: { reason: 'NotRunning' },
      }),
    );
  }

  async stats(): Promise<TaskUsage | undefined> {
    const measured = this.alive; // measured now, answered when let go
    await this.#pass('stats');
    return measured ? { cpuSeconds: 1, memoryBytes: 1024, pids: 1 } : undefined;
  }

  logs(): AsyncIterable<LogLine> {
    return (async function* () {})();
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

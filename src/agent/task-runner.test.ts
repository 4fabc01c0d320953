/**
 * TaskRunner against a scripted runtime whose start/stop/remove/exec can be held at chosen points,
 * to pin down the races between TaskRunner.stop() (or detach()) and the restart paths: once the
 * runner is told to stop it never calls runtime.start again, leaves no process running, and reports
 * nothing but its final 'stopped'.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { pino } from 'pino';
import { DabbaClient } from '../client/index.ts';
import { RuntimeError } from '../errors/index.ts';
import { silentLogger, sleep, systemClock } from '../lib/index.ts';
import type { ProbeSpec, Task, TaskSpec, TaskStatus, TaskUsage } from '../model/index.ts';
import type {
  ExecResult,
  ExecSession,
  ExitStatus,
  LogLine,
  Runtime,
  TaskHandle,
  TaskLaunch,
} from '../runtime/index.ts';
import { StatusReporter } from './status-reporter.ts';
import { TaskRunner } from './task-runner.ts';
import { TaskStateFiles, type TaskMemory } from './task-state-file.ts';

// ---- holding points -------------------------------------------------------------------------

interface Gate {
  /** Resolves when the held call has arrived at the gate. */
  reached: Promise<void>;
  /** Lets the held call go on. */
  release(): void;
}

/** One-shot gates for the next calls of one operation; calls with no gate queued go straight on. */
class Gates {
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

type Op = 'start' | 'stop' | 'remove' | 'exec' | 'stats';

interface Proc {
  handle: TaskHandle;
  exit: PromiseWithResolvers<ExitStatus>;
  ended: boolean;
}

class ScriptedRuntime implements Runtime {
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

// ---- the runner's other dependencies --------------------------------------------------------

/** Keeps every status the runner reports (nothing is sent anywhere). */
class RecordingReporter extends StatusReporter {
  readonly statuses: TaskStatus[] = [];
  onReport: ((s: TaskStatus) => void) | undefined;

  constructor() {
    super(new DabbaClient({ addr: '127.0.0.1:9' }), silentLogger);
  }

  override report(status: TaskStatus): void {
    this.statuses.push(status);
    this.onReport?.(status);
  }

  override flushed(): Promise<void> {
    return Promise.resolve();
  }
}

/** Real state files, whose writes can be held. */
class HeldStateFiles extends TaskStateFiles {
  readonly writes = new Gates();

  override async write(id: string, memory: TaskMemory): Promise<void> {
    await this.writes.pass();
    await super.write(id, memory);
  }
}

const liveness: ProbeSpec = {
  action: { exec: { command: ['check'] } },
  intervalMs: 5,
  timeoutMs: 1000,
  failures: 1,
  successes: 1,
  initialDelayMs: 0,
};

function task(spec: Partial<TaskSpec> = {}): Task {
  return {
    id: 'web-1',
    job: 'web',
    version: 1,
    host: 'h1',
    desired: 'run',
    createdAt: 0,
    spec: {
      command: ['serve'],
      env: {},
      resources: { cpu: 0.1, memoryBytes: 64 * 1024 * 1024, pids: 10 },
      ports: [],
      health: {},
      restart: { policy: 'always', initialBackoffMs: 1, maxBackoffMs: 1 },
      stopGracePeriodMs: 10,
      ...spec,
    },
  };
}

interface Harness {
  rt: ScriptedRuntime;
  reporter: RecordingReporter;
  memory: HeldStateFiles;
  images: Gates;
  runner: TaskRunner;
  /** Messages the runner logged, in order. */
  logs: string[];
}

async function harness(t: TestContext, spec: Partial<TaskSpec> = {}, drainMs?: number): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-task-runner-'));
  const rt = new ScriptedRuntime();
  const reporter = new RecordingReporter();
  const memory = new HeldStateFiles(dir);
  const images = new Gates();
  const logs: string[] = [];
  const logger = pino(
    { level: 'debug' },
    { write: (line: string) => void logs.push((JSON.parse(line) as { msg: string }).msg) },
  );
  const runner = new TaskRunner(task(spec), {
    runtime: rt,
    reporter,
    memory,
    clock: systemClock,
    logger,
    hostId: 'h1',
    ensureImage: () => images.pass(),
    ...(drainMs === undefined ? {} : { drainMs: () => drainMs }),
  });
  t.after(async () => {
    rt.releaseAll();
    memory.writes.releaseAll();
    images.releaseAll();
    await within(runner.stop(), 2000, 'cleanup stop');
    await rm(dir, { recursive: true, force: true });
  });
  return { rt, reporter, memory, images, runner, logs };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const ctl = new AbortController();
  try {
    return await Promise.race([
      p,
      sleep(ms, ctl.signal).then(() => {
        throw new Error(`${what}: not done within ${ms}ms`);
      }),
    ]);
  } finally {
    ctl.abort();
  }
}

/** Lets every pending continuation run (a few macrotask turns). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

interface Mark {
  starts: number;
  statuses: number;
  logs: number;
}

function mark(h: Harness): Mark {
  return { starts: h.rt.starts, statuses: h.reporter.statuses.length, logs: h.logs.length };
}

/** Waits until the runner has reported its task running. */
function running(h: Harness): Promise<void> {
  return until(h, () => h.runner.status.state === 'running');
}

function until(h: Harness, cond: () => boolean): Promise<void> {
  if (cond()) return Promise.resolve();
  return within(
    new Promise<void>((resolve) => {
      const prev = h.reporter.onReport;
      h.reporter.onReport = (s) => {
        prev?.(s);
        if (cond()) {
          h.reporter.onReport = prev;
          resolve();
        }
      };
    }),
    2000,
    'waiting for a status',
  );
}

/**
 * After stop() (called at `m`) has finished: no runtime.start beyond `extraStarts` in-flight ones,
 * no process left, only the final 'stopped' reported, no restart logged.
 */
async function assertStopped(h: Harness, m: Mark, extraStarts = 0): Promise<void> {
  await sleep(20); // longer than any backoff used here: a stray restart would have happened
  await settle();
  assert.equal(
    h.rt.starts,
    m.starts + extraStarts,
    `runtime.start calls after stop(): ${h.rt.calls.join(', ')}`,
  );
  assert.equal(h.rt.alive, false, `a process is left running: ${h.rt.calls.join(', ')}`);
  assert.deepEqual(
    h.reporter.statuses.slice(m.statuses).map((s) => `${s.state} ${s.reason ?? ''}`),
    ['stopped Stopped'],
    'statuses reported after stop()',
  );
  assert.equal(h.runner.status.state, 'stopped');
  assert.deepEqual(
    h.logs.slice(m.logs).filter((l) => l.includes('restarting task')),
    [],
    'restart logged after stop()',
  );
}

/** Like assertStopped, for detach(): nothing started, nothing reported, the process left alone. */
async function assertDetached(h: Harness, m: Mark): Promise<void> {
  await sleep(20);
  await settle();
  assert.equal(h.rt.starts, m.starts, `runtime.start calls after detach(): ${h.rt.calls.join(', ')}`);
  assert.deepEqual(h.reporter.statuses.slice(m.statuses), [], 'statuses reported after detach()');
  assert.deepEqual(
    h.logs.slice(m.logs).filter((l) => l.includes('restarting task')),
    [],
    'restart logged after detach()',
  );
}

// ---- (1) liveness restarts overlapping stop() -------------------------------------------------

test('stop() while a liveness restart is stopping the process: no start, nothing left', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const killing = h.rt.hold('stop');
  h.rt.execFails = true;
  await killing.reached; // the liveness restart's runtime.stop is in flight
  const m = mark(h);
  const stopping = h.runner.stop();
  killing.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart books the restart (state file write): no late status', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const write = h.memory.writes.hold();
  h.rt.execFails = true;
  await write.reached; // killed and exited; the restart is being recorded
  assert.equal(h.rt.alive, false);
  const m = mark(h);
  const stopping = h.runner.stop();
  write.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart clears the old process (runtime.remove): no start', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const clearing = h.rt.hold('remove');
  h.rt.execFails = true;
  await clearing.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  clearing.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while a liveness restart makes the image available: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1', health: { liveness } });
  h.runner.start();
  await running(h);
  const image = h.images.hold();
  h.rt.execFails = true;
  await image.reached; // old process gone, backoff over, about to start the new one
  assert.equal(h.rt.alive, false);
  const m = mark(h);
  const stopping = h.runner.stop();
  image.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 1);
});

test('stop() while a liveness restart is starting the new process: stop waits and stops it', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const starting = h.rt.hold('start');
  h.rt.execFails = true;
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  await settle();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.deepEqual(h.rt.calls.slice(h.rt.calls.lastIndexOf('start returned')), [
    'start returned',
    'stop',
    'remove',
  ]);
});

// ---- (2) restart backoff ------------------------------------------------------------------------

test('stop() during the restart backoff ends it at once and starts nothing', async (t) => {
  const h = await harness(t, {
    restart: { policy: 'always', initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  await until(h, () => h.runner.status.nextRestartAt !== undefined);
  await settle(); // runtime.remove done: sleeping out the backoff
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop() during a 60 s backoff');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 1);
});

test('detach() during the restart backoff starts nothing and reports nothing', async (t) => {
  const h = await harness(t, {
    restart: { policy: 'always', initialBackoffMs: 60_000, maxBackoffMs: 60_000 },
  });
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  await until(h, () => h.runner.status.nextRestartAt !== undefined);
  await settle();
  const m = mark(h);
  h.runner.detach();
  await assertDetached(h, m);
});

test('detach() while a restart makes the image available: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1' });
  h.runner.start();
  await running(h);
  const image = h.images.hold();
  h.rt.exit(1);
  await image.reached;
  const m = mark(h);
  h.runner.detach();
  image.release();
  await assertDetached(h, m);
});

// ---- (3) a start in flight ----------------------------------------------------------------------

test('stop() while runtime.start is in flight: waits for it, then stops what it started', async (t) => {
  const h = await harness(t);
  const starting = h.rt.hold('start');
  h.runner.start();
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  await settle();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.deepEqual(h.rt.calls.slice(h.rt.calls.indexOf('start returned')), [
    'start returned',
    'stop',
    'remove',
  ]);
});

test('stop() while runtime.start is in flight and then fails: no retry', async (t) => {
  const h = await harness(t);
  const starting = h.rt.hold('start');
  h.rt.startFails = 'StartFailed';
  h.runner.start();
  await starting.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  starting.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('stop() while the image is made available for the first start: runtime.start is not called', async (t) => {
  const h = await harness(t, { image: 'example/web:1' });
  const image = h.images.hold();
  h.runner.start();
  await image.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  image.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 0);
});

test('a task the mesh routes to is drained before SIGTERM: stop waits, then stops it', async (t) => {
  const h = await harness(t, { stopGracePeriodMs: 5000 }, 300);
  h.runner.start();
  await running(h);
  const t0 = Date.now();
  const stopped = h.runner.stop();
  await settle();
  assert.ok(h.rt.alive, 'still running while drained');
  assert.ok(!h.rt.calls.includes('stop'));
  await within(stopped, 5000, 'stop after the drain');
  assert.ok(Date.now() - t0 >= 300);
  assert.ok(h.logs.includes('draining before stop'));
  assert.ok(!h.rt.alive);
});

test('start() after stop() does nothing', async (t) => {
  const h = await harness(t);
  const m = mark(h);
  await h.runner.stop();
  h.runner.start();
  await assertStopped(h, m);
  assert.equal(h.rt.starts, 0);
});

// ---- (4) exits around stop() ----------------------------------------------------------------------

test('an exit delivered while stop() is stopping the process: no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const stopCall = h.rt.hold('stop');
  const m = mark(h);
  const stopping = h.runner.stop();
  await stopCall.reached;
  h.rt.exit(1); // the process ends by itself while the SIGTERM is on its way
  await settle();
  stopCall.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit delivered in the same turn as stop(): no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  h.rt.exit(1);
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit being handled (restart being booked) when stop() comes: no late status, no restart', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const write = h.memory.writes.hold();
  h.rt.exit(1);
  await write.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  write.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('an exit with restart policy never, then stop(): ends with stopped', async (t) => {
  const h = await harness(t, { restart: { policy: 'never', initialBackoffMs: 1, maxBackoffMs: 1 } });
  h.runner.start();
  await running(h);
  h.rt.exit(3);
  await until(h, () => h.runner.status.state === 'failed');
  const m = mark(h);
  await within(h.runner.stop(), 2000, 'stop()');
  await assertStopped(h, m);
});

// ---- (5) probe failures around stop() -------------------------------------------------------------

test('a liveness failure reported after stop() began: ignored', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  const probe = h.rt.hold('exec');
  await probe.reached; // a liveness probe is in flight
  const m = mark(h);
  const stopping = h.runner.stop();
  h.rt.execFails = true;
  probe.release();
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

test('a liveness failure in the same turn as stop(): no liveness restart', async (t) => {
  const h = await harness(t, { health: { liveness } });
  h.runner.start();
  await running(h);
  let m: Mark | undefined;
  let stopping: Promise<void> | undefined;
  // The moment the failure is reported (the liveness kill has just been signalled), stop.
  h.reporter.onReport = (s) => {
    if (stopping === undefined && s.message?.startsWith('liveness probe failing') === true) {
      m = mark(h);
      stopping = h.runner.stop();
    }
  };
  h.rt.execFails = true;
  await until(h, () => stopping !== undefined);
  await within(stopping!, 2000, 'stop()');
  await assertStopped(h, m!);
});

test('a usage refresh finishing after stop() began reports nothing', async (t) => {
  const h = await harness(t);
  h.runner.start();
  await running(h);
  const stats = h.rt.hold('stats');
  const refreshing = h.runner.refreshUsage();
  await stats.reached;
  const m = mark(h);
  const stopping = h.runner.stop();
  stats.release();
  await refreshing;
  await within(stopping, 2000, 'stop()');
  await assertStopped(h, m);
});

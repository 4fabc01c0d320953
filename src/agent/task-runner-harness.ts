/**
 * For the TaskRunner tests: a runner over the scripted runtime with its other dependencies
 * recorded or held, and the assertions the tests share (stopped, detached).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { pino } from 'pino';
import { DabbaClient } from '../client/index.ts';
import { silentLogger, sleep, systemClock } from '../lib/index.ts';
import type { ProbeSpec, Task, TaskSpec, TaskStatus } from '../model/index.ts';
import { StatusReporter } from './status-reporter.ts';
import { TaskRunner } from './task-runner.ts';
import { TaskStateFiles, type TaskMemory } from './task-state-file.ts';
import { Gates, ScriptedRuntime } from './task-runner-scripted-runtime.ts';

// ---- the runner's other dependencies --------------------------------------------------------

/** Keeps every status the runner reports (nothing is sent anywhere). */
export class RecordingReporter extends StatusReporter {
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
export class HeldStateFiles extends TaskStateFiles {
  readonly writes = new Gates();

  override async write(id: string, memory: TaskMemory): Promise<void> {
    await this.writes.pass();
    await super.write(id, memory);
  }
}

export const liveness: ProbeSpec = {
  action: { exec: { command: ['check'] } },
  intervalMs: 5,
  timeoutMs: 1000,
  failures: 1,
  successes: 1,
  initialDelayMs: 0,
};

export function task(spec: Partial<TaskSpec> = {}): Task {
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

export interface Harness {
  rt: ScriptedRuntime;
  reporter: RecordingReporter;
  memory: HeldStateFiles;
  images: Gates;
  runner: TaskRunner;
  /** Messages the runner logged, in order. */
  logs: string[];
}

export async function harness(
  t: TestContext,
  spec: Partial<TaskSpec> = {},
  drainMs?: number,
): Promise<Harness> {
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

export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
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
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

export interface Mark {
  starts: number;
  statuses: number;
  logs: number;
}

export function mark(h: Harness): Mark {
  return { starts: h.rt.starts, statuses: h.reporter.statuses.length, logs: h.logs.length };
}

/** Waits until the runner has reported its task running. */
export function running(h: Harness): Promise<void> {
  return until(h, () => h.runner.status.state === 'running');
}

export function until(h: Harness, cond: () => boolean): Promise<void> {
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
export async function assertStopped(h: Harness, m: Mark, extraStarts = 0): Promise<void> {
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
export async function assertDetached(h: Harness, m: Mark): Promise<void> {
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

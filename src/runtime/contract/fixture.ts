/**
 * What every group of the runtime contract suite shares: the fixture a runtime's test file makes,
 * and helpers to start tasks, read their logs and wait for conditions.
 */
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { shortId, sleep } from '../../lib/index.ts';
import type { PortSpec, TaskSpec } from '../../model/index.ts';
import type { LogLine, LogReadOptions, Runtime, TaskHandle } from '../runtime.ts';

export interface RuntimeFixture {
  runtime: Runtime;
  /** Stops everything the fixture made: runtimes, state directories. */
  cleanup(): Promise<void>;
  /** A new runtime instance over the same state as `runtime`, as after an agent restart. */
  reopen(): Promise<Runtime>;
  /** Image the tasks run in, for runtimes that need one. */
  image?: string;
  /** Prefix that runs a shell script: [...shell, 'echo hi']. */
  shell: string[];
  /**
   * For a runtime without host processes (fake): sends a signal to a task's process, and says
   * whether it is gone. Real runtimes leave both out: the suite then uses the host pid
   * (`process.kill`), as an operator's `kill -9` would.
   */
  kill?(handle: TaskHandle, signal: 'SIGKILL'): void;
  gone?(handle: TaskHandle): boolean;
  /**
   * False for a runtime without interactive exec (fake): the suite then checks that asking for
   * stdin or a terminal is refused with a RuntimeError, instead of being ignored.
   */
  interactiveExec?: false;
}

export const MiB = 1024 * 1024;
export const LOOP = 'while true; do sleep 0.1; done';

export interface SpecOptions {
  env?: Record<string, string>;
  ports?: PortSpec[];
  command?: string[];
}

export function taskSpec(fx: RuntimeFixture, script: string, o: SpecOptions = {}): TaskSpec {
  return {
    ...(fx.image === undefined ? {} : { image: fx.image }),
    command: o.command ?? [...fx.shell, script],
    env: o.env ?? {},
    resources: { cpu: 0.5, memoryBytes: 256 * MiB, pids: 100 },
    ports: o.ports ?? [],
    health: {},
    restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
    stopGracePeriodMs: 1000,
  };
}

export function newTaskId(): string {
  return `ct-${shortId(10)}`;
}

/** Starts a task and makes sure it is stopped and removed when the test ends, whatever happens. */
export async function launch(
  t: TestContext,
  rt: Runtime,
  fx: RuntimeFixture,
  script: string,
  o: SpecOptions & { launchEnv?: Record<string, string>; taskId?: string } = {},
): Promise<TaskHandle> {
  const taskId = o.taskId ?? newTaskId();
  t.after(async () => {
    await rt.stop(taskId, 0);
    await rt.remove(taskId);
  });
  return rt.start({
    taskId,
    job: 'contract',
    version: 1,
    spec: taskSpec(fx, script, o),
    env: o.launchEnv ?? { DABBA_TASK_ID: taskId },
  });
}

export async function readLogs(
  rt: Runtime,
  taskId: string,
  options: LogReadOptions = {},
): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  for await (const line of rt.logs(taskId, options)) lines.push(line);
  return lines;
}

export function texts(lines: LogLine[], stream?: 'stdout' | 'stderr'): string[] {
  return lines.filter((l) => stream === undefined || l.stream === stream).map((l) => l.text);
}

/** Polls until check returns a value (not undefined), or fails after timeoutMs. */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function waitForLine(rt: Runtime, taskId: string, text: string): Promise<true> {
  return eventually(`"${text}" in the logs of ${taskId}`, async () =>
    texts(await readLogs(rt, taskId)).includes(text) ? true : undefined,
  );
}

export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function waitForGone(fx: RuntimeFixture, h: TaskHandle): Promise<true> {
  const gone = (): boolean => (fx.gone ? fx.gone(h) : !pidExists(h.pid));
  return eventually(`pid ${h.pid} to be gone`, () => Promise.resolve(gone() ? true : undefined));
}

export function kill(fx: RuntimeFixture, h: TaskHandle): void {
  if (fx.kill) fx.kill(h, 'SIGKILL');
  else process.kill(h.pid, 'SIGKILL');
}

/**
 * A process task's record in the runtime (its state on disk, its exit once known, its waiters and
 * pollers) and the small steps on one record: watching our child's exit, waiting for its output to
 * reach the log, the handle start and recover answer.
 */
import type { ChildProcess } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { RuntimeError } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { ExitStatus, TaskHandle } from '../runtime.ts';
import { signalExitCode } from './exec.ts';
import type { TaskLogs } from './task-logs.ts';
import type { WriterClient } from './writer-client.ts';
import { EXIT_FILE, writeJsonAtomic, type TaskState } from './task-state.ts';

/** The task ids the runtime accepts (they name directories). */
export const TASK_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export interface TaskRecord {
  state: TaskState;
  dir: string;
  logs: TaskLogs;
  /** Set when this instance spawned the task (it is our child, its exit event tells the status). */
  child?: ChildProcess;
  exit?: ExitStatus;
  exited: Promise<ExitStatus>;
  settle(status: ExitStatus): void;
  waiters: number;
  poller: NodeJS.Timeout | undefined;
  stopping: Promise<void> | undefined;
  removed: boolean;
  /** The exit record being written when our child ended: remove() waits for it before deleting. */
  exitWritten?: Promise<void>;
  /** Its output goes through the log writer (else the task writes its files itself). */
  shipped: boolean;
  /** Set once its output has all reached the log after it exited (or we stopped waiting). */
  drained: boolean;
  draining?: Promise<void>;
}

/** How long reads of an ended task wait for the writer to write the rest of its output. */
export const DRAIN_WAIT_MS = 5000;

export async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export function startError(
  taskId: string,
  reason: string,
  message: string,
  extra: Record<string, unknown> = {},
  cause?: unknown,
): RuntimeError {
  return new RuntimeError(message, {
    details: { reason, taskId, ...extra },
    ...(cause === undefined ? {} : { cause }),
  });
}

export function unknownExit(): ExitStatus {
  return { exitCode: null, signal: null, oomKilled: false, reason: 'Unknown', finishedAt: Date.now() };
}

export function trySignal(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // gone already (ESRCH)
  }
}

/**
 * A task's record in a runtime. `release` frees its ports: it is called once, when its exit is
 * known.
 */
export function newTaskRecord(
  dir: string,
  logs: TaskLogs,
  shipped: boolean,
  state: TaskState,
  release: (ports: number[]) => void,
): TaskRecord {
  let settle!: (s: ExitStatus) => void;
  const exited = new Promise<ExitStatus>((r) => (settle = r));
  const rec: TaskRecord = {
    state,
    dir,
    logs,
    exited,
    waiters: 0,
    poller: undefined,
    stopping: undefined,
    removed: false,
    shipped,
    drained: false,
    settle: (status) => {
      if (rec.exit !== undefined) return;
      rec.exit = status;
      if (rec.poller !== undefined) clearInterval(rec.poller);
      rec.poller = undefined;
      release(Object.values(rec.state.ports));
      settle(status);
    },
  };
  return rec;
}

/** Waits (a bounded time) until an ended task's output has all reached its log. */
export function drainOutput(rec: TaskRecord, writer: WriterClient): Promise<void> {
  if (!rec.shipped || rec.drained) return Promise.resolve();
  rec.draining ??= (async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      writer.watch(rec.state.taskId),
      new Promise<void>((r) => (timer = setTimeout(r, DRAIN_WAIT_MS))),
    ]);
    clearTimeout(timer);
    rec.drained = true;
  })();
  return rec.draining;
}

/** Our own child: the exit event carries the real status; record it on disk for later agents. */
export function watchChild(rec: TaskRecord, child: ChildProcess, log: Logger): void {
  rec.child = child;
  child.once('exit', (code, signal) => {
    const status: ExitStatus =
      code !== null
        ? { exitCode: code, signal: null, oomKilled: false, reason: 'Exited', finishedAt: Date.now() }
        : {
            exitCode: signalExitCode(signal ?? 'SIGKILL'),
            signal: signal ?? null,
            oomKilled: false,
            reason: 'Killed',
            finishedAt: Date.now(),
          };
    rec.settle(status);
    if (rec.state.pid !== 0 && !rec.removed) {
      rec.exitWritten = writeJsonAtomic(rec.dir, EXIT_FILE, status).catch(() => undefined);
    }
    log.info({ taskId: rec.state.taskId, ...status }, 'task exited');
  });
  child.once('error', () => {
    // Reported by start (spawn failure); a kill error later is harmless.
  });
}

/** What start and recover answer for a running task. */
export function taskHandle(rec: TaskRecord, address: string): TaskHandle {
  return {
    taskId: rec.state.taskId,
    pid: rec.state.pid,
    address: address,
    ports: { ...rec.state.ports },
    startedAt: rec.state.startedAt,
  };
}

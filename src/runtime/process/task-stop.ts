/**
 * Whether a process task still runs, and stopping it: SIGTERM, a grace period, then SIGKILL to
 * everything left of its session (also processes that left its process group).
 */
import { sleep, type Logger } from '../../lib/index.ts';
import { isAlive, readStat, sessionMembers } from './proc.ts';
import { readExitStatus } from './task-state.ts';
import { trySignal, unknownExit, type TaskRecord } from './task-record.ts';

/** After SIGKILL, how long to wait for the kernel to finish the job before giving up. */
const KILL_WAIT_MS = 10_000;
const STOP_POLL_MAX_MS = 200;

/** An adopted task (not our child): whether it still runs; if not, its exit is settled. */
export async function checkAdopted(rec: TaskRecord): Promise<boolean> {
  if (rec.exit !== undefined) return false;
  if (await isAlive(rec.state.pid, rec.state.procStartTime)) return true;
  // The previous agent, if it saw the exit, left the status behind.
  rec.settle((await readExitStatus(rec.dir)) ?? unknownExit());
  return false;
}

/** Whether the task's main process still runs (settling its exit if it is found gone). */
export async function taskAlive(rec: TaskRecord): Promise<boolean> {
  if (rec.exit !== undefined) return false;
  if (rec.child !== undefined) return isAlive(rec.state.pid, rec.state.procStartTime);
  return checkAdopted(rec);
}

/**
 * Live processes of the task's session: the main process and whatever it started. Empty when
 * the main pid now belongs to another process (ours died and the pid was reused).
 */
export async function sessionPids(rec: TaskRecord): Promise<number[]> {
  const { pid, procStartTime } = rec.state;
  const main = await readStat(pid);
  if (main !== undefined && procStartTime !== null && main.startTime !== procStartTime) return [];
  return (await sessionMembers(pid)).map((s) => s.pid);
}

/** Whether anything of the task still runs: its main process, else any process of its session. */
async function running(rec: TaskRecord): Promise<boolean> {
  if (await isAlive(rec.state.pid, rec.state.procStartTime)) return true;
  return (await sessionPids(rec)).length > 0;
}

/**
 * Stops a task: SIGTERM to its process group, SIGKILL to whatever of its session is left after
 * `graceMs`, then waits until its exit status is known.
 */
export async function stopTask(rec: TaskRecord, graceMs: number, log: Logger): Promise<void> {
  const { pid } = rec.state;
  const taskId = rec.state.taskId;
  // Polls start fast (most tasks exit at once on SIGTERM) and slow down to spare /proc scans.
  let delay = 5;
  const pause = async (limitMs = Infinity): Promise<void> => {
    await sleep(Math.max(1, Math.min(delay, limitMs)));
    delay = Math.min(STOP_POLL_MAX_MS, delay * 1.5);
  };
  if (await running(rec)) {
    log.info({ taskId, pid, graceMs }, 'stopping task');
    trySignal(-pid, 'SIGTERM');
    const deadline = Date.now() + Math.max(0, graceMs);
    while (Date.now() < deadline && (await running(rec))) await pause(deadline - Date.now());
    const killDeadline = Date.now() + KILL_WAIT_MS;
    delay = 5;
    for (;;) {
      const members = await sessionPids(rec);
      if (members.length === 0) break;
      if (Date.now() > killDeadline) {
        log.warn({ taskId, pid, members }, 'task processes survive SIGKILL');
        break;
      }
      trySignal(-pid, 'SIGKILL');
      for (const m of members) trySignal(m, 'SIGKILL'); // those that left the process group
      await pause();
    }
  }
  // The main process is gone: make sure its status is known before returning.
  const child = rec.child;
  if (child !== undefined) {
    if (rec.exit !== undefined) return;
    child.ref(); // keep the event loop alive until its exit event comes
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([rec.exited, new Promise<void>((r) => (timer = setTimeout(r, KILL_WAIT_MS)))]);
    } finally {
      clearTimeout(timer);
      if (rec.waiters === 0) child.unref();
    }
  } else {
    await checkAdopted(rec);
  }
}

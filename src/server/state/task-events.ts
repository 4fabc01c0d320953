/**
 * Events derived from what agents report: a task's status changes (started, exited and why,
 * restarted, adopted, stopped) become entries of the event log, written in the same transaction as
 * the status itself. The scheduler's own decisions (placement, stops, rollout steps) are recorded
 * where it writes its plans.
 */
import { describeExit, type TaskStatus } from '../../model/index.ts';
import type { NewEvent } from './events.ts';

/** What changed between the stored status of a task and the one its agent reports now. */
export function statusEvents(prev: TaskStatus | undefined, next: TaskStatus): NewEvent[] {
  const out: NewEvent[] = [];
  const at = { job: next.job, task: next.id, host: next.host };
  const exit = next.lastExit;
  if (exit !== undefined && exit.at !== prev?.lastExit?.at) {
    const restart =
      next.nextRestartAt === undefined
        ? ''
        : `; restarting in ${Math.max(0, Math.round((next.nextRestartAt - exit.at) / 100) / 10)}s`;
    const kind =
      exit.reason === 'Exited' || exit.reason === 'Killed' || exit.reason === 'OOMKilled'
        ? 'task.exited'
        : exit.reason === 'LivenessFailed'
          ? 'task.killed'
          : 'task.start-failed';
    out.push({
      kind,
      ...at,
      message: `task ${next.id} on ${next.host}: ${describeExit(exit)}${restart}`,
      reason: exit.reason,
      ...(exit.exitCode === undefined ? {} : { exitCode: exit.exitCode }),
    });
  }
  const wasRunning = prev?.state === 'running' && prev.startedAt === next.startedAt;
  if (next.state === 'running' && !wasRunning) {
    const where = `${next.address ?? next.host}${next.pid === undefined ? '' : `, pid ${next.pid}`}`;
    if (next.reason === 'Adopted') {
      out.push({
        kind: 'task.adopted',
        ...at,
        message: `task ${next.id} adopted by the agent on ${next.host} (${where})`,
      });
    } else if (next.restarts > 0) {
      const after = exit === undefined ? '' : ` after ${describeExit(exit)}`;
      out.push({
        kind: 'task.restarted',
        ...at,
        message: `task ${next.id} restarted on ${next.host} (restart ${next.restarts}${after}; ${where})`,
      });
    } else {
      out.push({
        kind: 'task.started',
        ...at,
        message: `task ${next.id} started on ${next.host} (${where})`,
      });
    }
  }
  if (next.state === 'stopped' && prev?.state !== 'stopped' && next.reason === 'Stopped') {
    out.push({ kind: 'task.stopped', ...at, message: `task ${next.id} stopped on ${next.host}` });
  }
  return out;
}

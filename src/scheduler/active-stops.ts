/**
 * The stops of one reconcile pass of an active job (forced by a drain deadline, or decided by the
 * rollout), each with the reason the task's events and status show.
 */
import type { JobRecord, TaskView } from '../model/index.ts';
import type { RolloutDecision, StopWhy } from './rollout.ts';
import type { PlanBuilder } from './plan-builder.ts';
import type { HostLookup } from './types.ts';
import { deadlineOn } from './active-moves.ts';

export function stoppedBy(decision: RolloutDecision, also: ReadonlySet<string>): Set<string> {
  const s = new Set(also);
  for (const { task } of decision.stop) s.add(task.id);
  return s;
}

function stopWhy(
  why: StopWhy,
  job: JobRecord,
  currentCount: number,
  task: TaskView,
  failed: boolean,
): string {
  switch (why) {
    case 'surplus':
      return `surplus (${currentCount} tasks of v${job.version}'s spec for ${job.spec.replicas} replicas)`;
    case 'old-unavailable':
      return `replaced by v${job.version} (not available)`;
    case 'old-replaced':
      return `replaced by v${job.version}`;
    case 'old-drained':
      return `host ${task.host} is draining (not replaced: the deployment of v${job.version} ${
        failed ? 'failed' : 'waits for promotion'
      })`;
    case 'canary-room':
      return `making room for the canaries of v${job.version}`;
  }
}

/**
 * Stops this pass's tasks: those left on a host past its drain deadline (forced), then those the
 * rollout decided to stop. Returns their ids.
 */
export function stopTasks(
  out: PlanBuilder,
  forced: readonly TaskView[],
  decision: RolloutDecision,
  c: { job: JobRecord; hosts: HostLookup; currentCount: number; failed: boolean },
): Set<string> {
  const stopped = new Set<string>();
  for (const task of forced) {
    stopped.add(task.id);
    out.stop(task, `the drain deadline of host ${task.host} has passed (forced)`, 'task.drain-forced', {
      op: 'move',
      ...deadlineOn(task, c.hosts),
    });
  }
  for (const { task, why } of decision.stop) {
    stopped.add(task.id);
    const op = why === 'surplus' ? 'stop' : why === 'old-drained' ? 'move' : 'replace';
    out.stop(task, stopWhy(why, c.job, c.currentCount, task, c.failed), undefined, {
      op,
      ...deadlineOn(task, c.hosts),
    });
  }
  return stopped;
}

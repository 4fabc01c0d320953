/**
 * Rescheduling: a task that keeps crashing where it is gets replaced by one on another host.
 *
 * The agent restarts a crashing task in place (with backoff). Once its status shows
 * `task.restart.rescheduleAfter` restarts (default 5; 0: never) and it is not healthy, `reconcile`
 * places a replacement on another host (the allocator is told to avoid the task's host), and stops
 * the crashing task in the same pass (it is not available, so this costs no availability). When no
 * other host fits, nothing changes: the task keeps restarting in place.
 */
import type { TaskView } from '../model/index.ts';

export const DEFAULT_RESCHEDULE_AFTER = 5;

/** The restart count after which a task of this spec is rescheduled (0: never). */
export function rescheduleAfter(task: Pick<TaskView, 'spec'>): number {
  return task.spec.restart.rescheduleAfter ?? DEFAULT_RESCHEDULE_AFTER;
}

/**
 * Why the task should be moved to another host ("5 restarts, not healthy"), or undefined. Only
 * placed tasks with desired 'run' whose agent reports enough restarts and not healthy qualify.
 */
export function rescheduleReason(task: TaskView): string | undefined {
  const after = rescheduleAfter(task);
  const s = task.status;
  if (after <= 0 || task.desired !== 'run' || task.host === null || s === undefined) return undefined;
  if (s.healthy || s.state === 'stopped' || s.restarts < after) return undefined;
  const cause = s.reason === undefined ? '' : `, last ${s.reason}`;
  return `${s.restarts} restarts, not healthy${cause}`;
}

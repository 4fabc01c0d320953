/**
 * Moving current-spec tasks off their hosts in one reconcile pass of an active job: off draining
 * hosts, and off hosts they keep crashing on, one replacement at a time.
 */
import type { Deployment, JobRecord, Task, TaskView } from '../model/index.ts';
import { drainingHost } from './drain.ts';
import type { Placer } from './placement.ts';
import { rescheduleReason } from './reschedule.ts';
import type { RolloutBudget } from './rollout.ts';
import { label, stopOrder } from './task-state.ts';
import type { PlanBuilder } from './plan-builder.ts';
import type { HostLookup, ReconcileInput } from './types.ts';
import { newTask } from './active-placement.ts';

/** Why a current-spec task must leave its host. */
export type Move = { kind: 'drain' } | { kind: 'reschedule'; why: string };

/**
 * Current-spec tasks that must leave their host: it drains, or they keep crashing there. Tasks of
 * the version being rolled out are not rescheduled until it succeeds (a crash loop fails it).
 */
export function findMoves(
  allCurrent: readonly TaskView[],
  hosts: HostLookup,
  job: JobRecord,
  deployment: Deployment,
  now: number,
): Map<string, Move> {
  const moves = new Map<string, Move>();
  for (const t of allCurrent) {
    if (drainingHost(t, hosts, now) !== undefined) {
      moves.set(t.id, { kind: 'drain' });
    } else if (t.version !== job.version || deployment.state === 'succeeded') {
      const why = rescheduleReason(t);
      if (why !== undefined) moves.set(t.id, { kind: 'reschedule', why });
    }
  }
  return moves;
}

export interface MoveContext {
  budget: RolloutBudget;
  hosts: HostLookup;
  evicting: readonly TaskView[];
  moves: ReadonlyMap<string, Move>;
  available: (t: TaskView) => boolean;
  /** Most current-spec tasks there may be after this pass. */
  cap: number;
  /** Tasks stopped so far in this pass (moved ones are added). */
  stopped: Set<string>;
  /** After this pass's other stops and starts: */
  availableCount: number;
  /** ... tasks with desired 'run', */
  running: number;
  /** ... current-spec tasks that stay where they are (placed or not), */
  currentCount: number;
  /** ... and those of them with a host. */
  placedCount: number;
  out: PlanBuilder;
}

/**
 * Moves current-spec tasks off their hosts (draining, or crash-looping there), one replacement at a
 * time, like a rolling update: a task is stopped once a replacement has a host (placed in an earlier
 * pass or in this one) and only while at least minAvailable stay available; a replacement is
 * started only within maxRun (or when the task it replaces stops in the same pass) and the current
 * cap. A replacement for a crash-looping task avoids its host and is only created when it fits
 * elsewhere; one for a task on a draining host is created unplaced when nothing fits (it says why,
 * and the drain waits for it). Returns how many replacements got a host.
 */
export function moveTasks(input: ReconcileInput, placer: Placer, c: MoveContext): { created: number } {
  const { budget, available, out } = c;
  let created = 0;
  let remaining = c.evicting.length;
  for (const task of [...c.evicting].sort(stopOrder(available))) {
    const move = c.moves.get(task.id);
    if (move === undefined || task.host === null) continue;
    const affordable = !available(task) || c.availableCount - 1 >= budget.minAvailable;
    const stop = (why: string): void => {
      c.stopped.add(task.id);
      out.stop(task, why, undefined, { op: 'move', ...deadlineOn(task, c.hosts) });
      if (available(task)) c.availableCount--;
      c.running--;
      remaining--;
    };
    // Enough placed tasks without this one: it may go (if the budget allows).
    if (c.placedCount + remaining > budget.replicas) {
      if (affordable) stop(moveWhy(move, task, undefined));
      continue;
    }
    // Its replacement exists but waits for a host.
    if (c.currentCount + remaining > budget.replicas) continue;
    const surge = c.running + 1 <= budget.maxRun;
    const capped = c.currentCount + remaining + 1 > c.cap;
    if (!affordable && (!surge || capped)) continue;
    // (A draining host takes no new task anyway; saying so again would change the unplaced reason.)
    const hints =
      move.kind === 'reschedule' ? { avoidHosts: [task.host], replaces: task.id } : { replaces: task.id };
    const r = placer.place(input.job.spec.task.resources, undefined, hints);
    if (r.host === null) {
      if (move.kind === 'drain' && surge && !capped) {
        const replacement = newTask(input, input.newTaskId(), r);
        c.running++;
        c.currentCount++;
        out.upsert(
          replacement,
          'task.unplaceable',
          `created task ${label(replacement)} to replace ${label(task)} on draining host ${task.host}, not placed: ${r.reason}`,
        );
      }
      continue; // a crash-looping task with nowhere else to go keeps restarting in place
    }
    const replacement = newTask(input, input.newTaskId(), r);
    c.running++;
    c.currentCount++;
    c.placedCount++;
    created++;
    if (move.kind === 'drain') {
      out.upsert(
        replacement,
        'task.created',
        `created task ${label(replacement)} on ${r.host} to replace ${label(task)} on draining host ${task.host}`,
      );
    } else {
      out.upsert(
        replacement,
        'task.rescheduled',
        `rescheduling task ${label(task)} off ${task.host} (${move.why}): replaced by ${label(replacement)} on ${r.host}`,
      );
    }
    if (affordable) stop(moveWhy(move, task, replacement));
  }
  return { created };
}

function moveWhy(move: Move, task: TaskView, replacement: Task | undefined): string {
  const by =
    replacement === undefined ? 'replaced' : `replaced by ${label(replacement)} on ${replacement.host}`;
  return move.kind === 'drain'
    ? `host ${task.host} is draining (${by})`
    : `rescheduled after ${move.why} (${by})`;
}

/** A draining host's deadline, as a disruption's deadline (nothing when its host is not draining). */
export function deadlineOn(task: TaskView, hosts: HostLookup): { deadline?: number } {
  const d = drainingHost(task, hosts)?.drainDeadline;
  return d === undefined ? {} : { deadline: d };
}

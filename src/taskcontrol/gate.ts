/**
 * The gate between the scheduler's plan and the store, for a job with a TaskControl controller:
 * disruptive stops the controller has not acknowledged are taken out of the plan (they wait and are
 * proposed again on the next pass), except those whose deadline has come. Pure: the job's ledger and
 * the clock in, the plan to write and the operations still pending out.
 */
import { operationId, type PendingOperation, type TaskControlOp } from '../model/index.ts';
import type { Disruption, ReconcilePlan } from '../scheduler/index.ts';

export interface GateResult {
  plan: ReconcilePlan;
  /** Operations of this plan that wait for the controller. */
  held: PendingOperation[];
  /** Operations of this plan that go ahead (acknowledged, or at their deadline). */
  proceeding: string[];
}

/** The pending operation a disruption in the plan stands for. */
export function operationOf(d: Disruption): PendingOperation {
  const op: TaskControlOp = d.op;
  const p: PendingOperation = { id: operationId(op, d.task), task: d.task, op, host: d.host, reason: d.why };
  if (d.deadline !== undefined) p.deadline = d.deadline;
  return p;
}

/** The job's room for new tasks: the plan started them counting on its stops. */
export interface GateRoom {
  /** Ids of the job's tasks that exist now. */
  existing: ReadonlySet<string>;
  /** How many of them have desired 'run'. */
  live: number;
  /** Most tasks with desired 'run' at once: replicas + maxSurge. */
  max: number;
}

/**
 * Holds the plan's disruptions that are neither in `acked` nor at their deadline. A plan that
 * holds a stop does not finish its deployment (the tasks it would stop still run): the deployment
 * record is then left as it was, and the events about the held stops are left out. New tasks the
 * plan started in place of held ones are dropped when they would exceed `room.max` (the rollout's
 * maxSurge holds while the controller makes it wait).
 */
export function gatePlan(
  plan: ReconcilePlan,
  acked: ReadonlySet<string>,
  now: number,
  room?: GateRoom,
): GateResult {
  const held: PendingOperation[] = [];
  const proceeding: string[] = [];
  const heldTasks = new Set<string>();
  for (const d of plan.disruptions ?? []) {
    const op = operationOf(d);
    if (acked.has(op.id) || (op.deadline !== undefined && op.deadline <= now)) {
      proceeding.push(op.id);
    } else {
      held.push(op);
      heldTasks.add(d.task);
    }
  }
  if (held.length === 0) return { plan, held, proceeding };
  const stop = plan.stop.filter((id) => !heldTasks.has(id));
  let create = plan.create;
  const dropped = new Set<string>();
  if (room !== undefined) {
    let live = room.live - stop.length;
    create = [];
    for (const t of plan.create) {
      if (room.existing.has(t.id)) create.push(t);
      else if (live < room.max) {
        live++;
        create.push(t);
      } else dropped.add(t.id);
    }
  }
  const out: ReconcilePlan = {
    ...plan,
    create,
    stop,
    events: plan.events.filter(
      (e) =>
        !(e.task !== undefined && (heldTasks.has(e.task) || dropped.has(e.task))) &&
        e.kind !== 'deployment.succeeded',
    ),
    disruptions: (plan.disruptions ?? []).filter((d) => !heldTasks.has(d.task)),
  };
  if (plan.deployment?.state === 'succeeded') out.deployment = undefined;
  for (const op of held) if (op.deadline !== undefined && op.deadline > now) wakeAt(out, op.deadline);
  return { plan: out, held, proceeding };
}

function wakeAt(plan: ReconcilePlan, at: number): void {
  if (plan.wakeAt === undefined || at < plan.wakeAt) plan.wakeAt = at;
}

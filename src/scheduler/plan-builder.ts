/** The plan of one reconcile pass, built up as decisions are made (with their events). */
import type { Task, TaskView } from '../model/index.ts';
import { label } from './task-state.ts';
import type { Disruption, PlanEvent, ReconcilePlan } from './types.ts';

export class PlanBuilder {
  readonly plan: ReconcilePlan = {
    create: [],
    stop: [],
    remove: [],
    deployment: undefined,
    supersede: [],
    events: [],
  };

  event(kind: string, message: string, task?: Pick<Task, 'id' | 'host'>): void {
    const e: PlanEvent = { kind, message };
    if (task !== undefined) {
      e.task = task.id;
      if (task.host !== null) e.host = task.host;
    }
    this.plan.events.push(e);
  }

  remove(task: TaskView, kind: string, message: string): void {
    this.plan.remove.push(task.id);
    this.event(kind, message, task);
  }

  /**
   * Stops a task, or removes it outright if it was never placed (nothing runs anywhere). `op`: the
   * kind of disruption it is (absent: none to ask about, e.g. the job is stopped).
   */
  stop(
    task: TaskView,
    why: string,
    kind = 'task.stopping',
    op?: Omit<Disruption, 'task' | 'host' | 'why'>,
  ): void {
    if (task.host === null) {
      this.remove(task, 'task.removed', `removed task ${label(task)}, never placed: ${why}`);
    } else {
      this.plan.stop.push(task.id);
      this.event(kind, `stopping task ${label(task)} on ${task.host}: ${why}`, task);
      if (op !== undefined)
        (this.plan.disruptions ??= []).push({ task: task.id, host: task.host, why, ...op });
    }
  }

  upsert(task: Task, kind: string, message: string): void {
    this.plan.create.push(task);
    this.event(kind, message, task);
  }

  wake(at: number | undefined, now: number): void {
    if (at === undefined || at <= now) return;
    if (this.plan.wakeAt === undefined || at < this.plan.wakeAt) this.plan.wakeAt = at;
  }
}

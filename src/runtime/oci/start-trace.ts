/**
 * When each step of a task's start was done, in ms after OciRuntime.start began: the agent's debug
 * line `task started` carries them (`ms`), and bench/oci-deploy.ts prints them. Costs a
 * performance.now() per step.
 */
import type { Logger } from '../../lib/index.ts';
import type { TaskRecord } from './task-record.ts';

/** When each part of prepareTask was done (ms after it began): what a burst of starts waits on. */
export interface PrepareTimes {
  rootfs?: number;
  netns?: number;
  address?: number;
}

export class StartTrace {
  /** performance.now() when the start began. */
  readonly began = performance.now();
  /** Step -> ms after the start began (0.1 ms). */
  readonly marks: Record<string, number> = {};

  /** Notes that `step` is done now. */
  mark(step: string): void {
    this.marks[step] = Math.round((performance.now() - this.began) * 10) / 10;
  }

  /** Notes when `p` settles as `step`. */
  time<T>(step: string, p: Promise<T>): Promise<T> {
    return p.finally(() => this.mark(step));
  }
}

/**
 * The debug line `task started`: `ms` says how long prepare (address, rootfs, netns, config.json;
 * with when each of its parts was done), conmon + `create` and `start` + record took, and `steps`
 * when each step of runContainer was done (bench/oci-deploy.ts reads both).
 */
export function logStarted(logger: Logger, rec: TaskRecord, took: PrepareTimes, trace: StartTrace): void {
  if (!logger.isLevelEnabled('debug')) return;
  const m = trace.marks;
  const at = (k: string): number => m[k] ?? NaN;
  const d = (a: number, b: number): number => Math.round((b - a) * 10) / 10;
  const total = d(trace.began, performance.now());
  logger.debug(
    {
      taskId: rec.taskId,
      pid: rec.pid,
      address: rec.address,
      ms: {
        prepare: at('prepared'),
        ...took,
        create: d(at('prepared'), at('created')),
        start: d(at('created'), total),
        total,
      },
      steps: m,
    },
    'task started',
  );
}

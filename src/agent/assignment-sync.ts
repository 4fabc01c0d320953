/**
 * The host's assignments, listed then watched, applied to its task runners: a runner started for a
 * task assigned here (adopting what the previous agent left running), stopped for one unassigned.
 */
import type { DabbaClient } from '../client/index.ts';
import { messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import type { Task } from '../model/index.ts';
import { keys } from '../model/index.ts';
import type { Runtime, TaskHandle } from '../runtime/index.ts';
import type { StatusReporter } from './status-reporter.ts';
import { TaskRunner, type TaskRunnerDeps } from './task-runner.ts';
import type { TaskStateFiles } from './task-state-file.ts';

/**
 * The loop that keeps `runners` in step with the assignments until `signal` aborts. `adoptable` and
 * `exitedLeft` hold what the previous agent left (the runtime's recovery), until the first listing.
 */
export function assignmentSync(
  o: { client: DabbaClient; runtime: Runtime; hostId: string },
  p: {
    runners: Map<string, TaskRunner>;
    adoptable: Map<string, TaskHandle>;
    exitedLeft: Set<string>;
    deps: TaskRunnerDeps;
    reporter: StatusReporter;
    memory: TaskStateFiles;
    clock: Clock;
    logger: Logger;
    signal: AbortSignal;
  },
): () => Promise<void> {
  const { runners, adoptable, exitedLeft, deps, reporter, memory, clock, logger, signal } = p;

  /** Stops the task through its runner, which is dropped once the task is stopped and removed. */
  function stopAndForget(id: string, runner: TaskRunner): void {
    void runner.stop().then(() => {
      if (runners.get(id) === runner) runners.delete(id);
    });
  }

  function apply(task: Task | undefined, id: string): void {
    const runner = runners.get(id);
    if (task === undefined || task.desired === 'stop') {
      if (runner) {
        stopAndForget(id, runner);
      } else if (task !== undefined && (adoptable.has(id) || exitedLeft.has(id))) {
        // Left by the previous agent (running, or exited with its traces): stop and remove it
        // before saying 'stopped', as for any task, since the scheduler deletes the task on that word.
        adoptable.delete(id);
        exitedLeft.delete(id);
        const r = new TaskRunner(task, deps);
        runners.set(id, r);
        stopAndForget(id, r);
      } else if (task !== undefined) {
        // Assigned as stopped and never run here: say so, so the scheduler can remove it.
        reporter.report({
          id,
          job: task.job,
          host: o.hostId,
          state: 'stopped',
          healthy: false,
          ready: false,
          restarts: 0,
          reason: 'Stopped',
          updatedAt: clock.now(),
        });
      }
      return;
    }
    if (runner) return;
    // `at` (epoch ms, sub-ms precision) lets bench/oci-deploy.ts split deploy latency into parts.
    logger.debug({ task: id, at: performance.timeOrigin + performance.now() }, 'assignment seen');
    const r = new TaskRunner(task, deps);
    runners.set(id, r);
    const adopted = adoptable.get(id);
    adoptable.delete(id);
    r.start(adopted);
  }

  async function syncAssignments(): Promise<void> {
    let first = true;
    while (!signal.aborted) {
      try {
        const { revision, tasks } = await o.client.assignments(o.hostId);
        const assigned = new Map(tasks.map((t) => [t.id, t]));
        for (const [id, t] of assigned) apply(t, id);
        for (const id of runners.keys()) if (!assigned.has(id)) apply(undefined, id);
        if (first) {
          first = false;
          // Survivors of a previous agent that are no longer assigned here: stop them.
          for (const [id] of adoptable) {
            logger.info({ task: id }, 'stopping unassigned task left from before');
            await o.runtime.stop(id, 10_000).catch(() => undefined);
            await o.runtime.remove(id).catch(() => undefined);
            await memory.remove(id);
          }
          adoptable.clear();
          for (const id of exitedLeft) {
            if (!assigned.has(id)) await o.runtime.remove(id).catch(() => undefined);
          }
          exitedLeft.clear();
        }
        const prefix = keys.hostAssignmentsPrefix(o.hostId);
        for await (const batch of o.client.watch(prefix, revision + 1, signal)) {
          for (const e of batch) {
            const id = e.key.slice(prefix.length);
            apply(e.type === 'put' ? (e.value as Task) : undefined, id);
          }
        }
      } catch (e) {
        if (signal.aborted) return;
        logger.warn({ err: messageOf(e) }, 'assignment watch ended; re-listing');
        await sleep(500, signal);
      }
    }
  }

  return syncAssignments;
}

/**
 * Picking tasks up again after an agent restart: running ones (checked by pid and start time) are
 * re-adopted, the others reported as exited; task directories without a record are purged, and
 * addresses held by tasks that no longer exist are released.
 */
import { readdir } from 'node:fs/promises';
import type { ExitStatus, TaskHandle } from '../runtime.ts';
import { cgroupPathsOf, exists } from './cgroups.ts';
import { exitStatusFrom } from './exit-status.ts';
import type { ExitTracker } from './exits.ts';
import type { OciPaths } from './paths.ts';
import type { Ready } from './setup.ts';
import { TASK_ID } from './support.ts';
import { handleOf, isAlive, readExit, readJson, readRecord, type TaskRecord } from './task-record.ts';
import type { TaskContext } from './task-context.ts';
import { purgeTask } from './teardown.ts';

export interface RecoverDeps {
  ready: Ready;
  paths: OciPaths;
  /** The runtime's records, filled with what is found. */
  records: Map<string, TaskRecord>;
  exits: ExitTracker;
  teardown: TaskContext;
  exitedWithin: (taskId: string, ms: number) => Promise<boolean>;
}

export interface Recovered {
  running: TaskHandle[];
  exited: { taskId: string; status: ExitStatus }[];
}

export async function recoverTasks(d: RecoverDeps): Promise<Recovered> {
  const { ready, paths } = d;
  const running: TaskHandle[] = [];
  const exited: { taskId: string; status: ExitStatus }[] = [];
  const present = new Set<string>();
  for (const name of await readdir(paths.tasksDir)) {
    if (!TASK_ID.test(name)) continue;
    const r = await readRecord(paths.taskDir(name));
    if (!r) {
      // No record (a crash before it was written, or damaged state): delete whatever the task
      // may own, found by the names derived from its id.
      await purgeTask(d.teardown, name);
      continue;
    }
    present.add(r.taskId);
    d.records.set(r.taskId, r);
    const saved = await readExit(paths.taskDir(r.taskId));
    if (saved) {
      d.exits.exits.set(r.taskId, saved);
      exited.push({ taskId: r.taskId, status: saved });
      continue;
    }
    if (r.phase === 'running' && (await isAlive(r.pid, r.pidStart)) && !(await exists(paths.exitFile(r)))) {
      if (r.pid && !r.cgroups) {
        const cgroups = await cgroupPathsOf(r.pid, ready.layout).catch(() => undefined);
        if (cgroups) r.cgroups = cgroups;
      }
      running.push(handleOf(r));
      continue;
    }
    if (r.phase === 'created' && (await isAlive(r.pid, r.pidStart))) {
      // Created but never started: the agent died in between. It cannot be trusted to start now.
      await ready.cli.kill(r.containerId, 'SIGKILL', true);
      await d.exitedWithin(r.taskId, 5_000);
    }
    exited.push({ taskId: r.taskId, status: await d.exits.finalize(r) });
  }
  // Tasks between two runs (removed to be restarted in place) when the agent stopped: reported
  // as exited, so the agent starts them again (same address) or removes them.
  for (const name of await readdir(paths.previousDir)) {
    const taskId = name.endsWith('.log') ? name.slice(0, -'.log'.length) : '';
    if (!TASK_ID.test(taskId) || present.has(taskId)) continue;
    present.add(taskId);
    const status = (await readJson<ExitStatus>(paths.previousExit(taskId))) ?? exitStatusFrom(null, false);
    exited.push({ taskId, status });
  }
  // Addresses held by tasks that no longer exist (a crash between allocation and record).
  for (const [addr, owner] of Object.entries(await ready.ipam.list())) {
    if (!present.has(owner)) await ready.ipam.release(addr, owner);
  }
  // Running containers' log pipes need a writer (one that was killed is started again).
  if (running.length > 0) d.teardown.containerLogs.recovered();
  return { running, exited };
}

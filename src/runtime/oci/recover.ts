/**
 * Picking tasks up again after an agent restart: running ones (checked by pid and start time) are
 * re-adopted, the others reported as exited; task directories without a record are purged, and
 * addresses held by tasks that no longer exist are released. Also the re-adoption after the runtime
 * is restarted in place (remediation's `restart-runtime`, `readoptRunning`).
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

/**
 * After the host setup ran again (restart-runtime: directories, cgroup layout and the hugetlb mount
 * crun needs, the bridge with its gateway address and nftables rules, the binaries found again): the
 * running containers are re-adopted as they are, never stopped; their host veths are plugged into
 * the bridge again (a bridge made anew has no ports); those whose process is gone are left to the
 * exit tracker. What was done, in words.
 */
export async function readoptRunning(ready: Ready, records: Iterable<TaskRecord>): Promise<string> {
  let running = 0;
  let replugged = 0;
  const unplugged: string[] = [];
  for (const r of records) {
    if (r.phase !== 'running' || !(await isAlive(r.pid, r.pidStart))) continue;
    running++;
    if (r.hostVeth === '') continue;
    if (await ready.network.reattach(r.hostVeth)) replugged++;
    else unplugged.push(r.taskId);
  }
  const lost = unplugged.length === 0 ? '' : `; no veth to plug in for ${unplugged.join(', ')}`;
  return `${ready.cli.name} set up again (bridge ${ready.network.bridge} up); ${running} running container${running === 1 ? '' : 's'} re-adopted, ${replugged} plugged into the bridge again${lost}`;
}

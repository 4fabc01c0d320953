/**
 * Deleting what a task owns: its container, conmon, cgroups, network, root filesystem, address and
 * files, by its record or (for a task without one) by the names derived from its id.
 */
import { copyFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { sleep, within } from '../../lib/index.ts';
import { DROPS_FILE } from '../process/log-drops.ts';
import { keepTail } from '../previous-log.ts';
import type { ExitStatus } from '../runtime.ts';
import { removeCgroupDirs, type CgroupLayout, type CgroupPaths } from './cgroups.ts';
import { previousDropsFile } from './container-logs.ts';
import { conmonAlive } from './exits.ts';
import { readExit, writeJsonAtomic, type TaskRecord } from './task-record.ts';
import type { TaskContext } from './task-context.ts';

/** Where the task's cgroups would be, for a task that failed before its pid was known. */
export function expectedCgroups(layout: CgroupLayout, r: Pick<TaskRecord, 'cgroupsPath'>): CgroupPaths {
  const all = new Set<string>();
  for (const m of layout.v1.values()) all.add(join(m.mountpoint, r.cgroupsPath));
  if (layout.unified) all.add(join(layout.unified.mountpoint, r.cgroupsPath));
  return { version: layout.version, all: [...all] };
}

/** What a task keeps between runs: its address and its previous run's log. */
export async function forgetTask(ctx: TaskContext, taskId: string): Promise<void> {
  await ctx.ready.ipam.releaseOwner(taskId);
  await rm(ctx.paths.previousLog(taskId), { force: true });
  await rm(ctx.paths.previousExit(taskId), { force: true });
  await rm(previousDropsFile(ctx.paths, taskId), { force: true });
}

/**
 * Deletes everything the task owns but what `keep` says: its address (for a restart in place),
 * its log as the previous run's, with `exit` (or the one recorded) as how it ended.
 */
export async function releaseTask(
  ctx: TaskContext,
  r: TaskRecord,
  keep: { keepAddress: boolean; keepLog: boolean },
  exit: ExitStatus | undefined,
): Promise<void> {
  const { ready, paths } = ctx;
  const taskDir = paths.taskDir(r.taskId);
  await ready.cli.delete(r.containerId, true);
  if (await conmonAlive(r)) {
    for (let i = 0; i < 20 && (await conmonAlive(r)); i++) await sleep(100);
    if (r.conmonPid && (await conmonAlive(r))) process.kill(r.conmonPid, 'SIGKILL');
  }
  const cgroups: CgroupPaths = r.cgroups ?? expectedCgroups(ready.layout, r);
  const left = await removeCgroupDirs(cgroups, r.cgroupLeaf);
  if (left.length > 0) ctx.logger.warn({ taskId: r.taskId, left }, 'cgroup directories could not be removed');
  await ready.network.teardown(r);
  await ctx.images.releaseRootfs(taskDir, ctx.helper.run);
  if (keep.keepLog) {
    // conmon has exited: the log writer writes what it still had, then ctr.log is complete.
    await within(ctx.containerLogs.drained(r.taskId), 5000);
    await keepTail(join(taskDir, 'ctr.log'), paths.previousLog(r.taskId));
    await rm(previousDropsFile(paths, r.taskId), { force: true });
    await copyFile(join(taskDir, DROPS_FILE), previousDropsFile(paths, r.taskId)).catch(() => undefined);
    const status = exit ?? (await readExit(taskDir));
    if (status) await writeJsonAtomic(paths.previousExit(r.taskId), status);
  }
  if (!keep.keepAddress) await forgetTask(ctx, r.taskId);
  await rm(paths.exitFile(r), { force: true });
  await rm(join(paths.socketsDir, r.key), { force: true });
  await rm(taskDir, { recursive: true, force: true });
}

/** Deletes what a task without a record may have left, by the names derived from its id. */
export async function purgeTask(ctx: TaskContext, taskId: string): Promise<void> {
  const { ready, paths } = ctx;
  const key = paths.keyOf(taskId);
  const leaf = `${taskId}-${key.slice(0, 6)}`;
  await ready.cli.delete(taskId, true);
  await ready.network.teardown({ netns: `dabba-${key}`, hostVeth: `dbv${key}` });
  const cgroups = expectedCgroups(ready.layout, { cgroupsPath: `${ctx.cgroupParent}/${leaf}` });
  await removeCgroupDirs(cgroups, leaf);
  await ctx.images.releaseRootfs(paths.taskDir(taskId), ctx.helper.run);
  await rm(join(paths.exitsDir, taskId), { force: true });
  await rm(join(paths.socketsDir, key), { force: true });
  await rm(paths.taskDir(taskId), { recursive: true, force: true });
}

/**
 * Knowing when a task's process ended: conmon writes its exit code to EXITS/<container id>; the
 * directory is watched (and polled every second as a fallback), and a task whose process and conmon
 * are both gone without an exit file is finalized too. The final status is kept in the task's
 * exit.json, so it survives the agent.
 */
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import type { ExitStatus } from '../runtime.ts';
import { exists, oomKillCount } from './cgroups.ts';
import { exitStatusFrom } from './exit-status.ts';
import type { OciPaths } from './paths.ts';
import { deferred, type Deferred } from './support.ts';
import { isAlive, readExit, writeExit, type TaskRecord } from './task-record.ts';

/** Whether the task's conmon still runs (checked by its name, against pid reuse). */
export async function conmonAlive(r: TaskRecord): Promise<boolean> {
  if (!r.conmonPid) return false;
  try {
    return (
      (await readFile(`/proc/${r.conmonPid}/comm`, 'utf8')).trim() === 'conmon' &&
      (await isAlive(r.conmonPid))
    );
  } catch {
    return false;
  }
}

export interface ExitTrackerDeps {
  paths: OciPaths;
  /** The runtime's task records and the tasks being removed (shared, not copied). */
  records: ReadonlyMap<string, TaskRecord>;
  removing: ReadonlySet<string>;
  logger: Logger;
}

export class ExitTracker {
  /** Final statuses known. */
  readonly exits = new Map<string, ExitStatus>();
  private readonly waiters = new Map<string, Deferred<ExitStatus>>();
  private readonly finalizing = new Map<string, Promise<ExitStatus>>();
  private readonly deps: ExitTrackerDeps;
  private watcher: FSWatcher | undefined;
  private poller: NodeJS.Timeout | undefined;

  constructor(deps: ExitTrackerDeps) {
    this.deps = deps;
  }

  watch(): void {
    if (this.watcher) return;
    try {
      this.watcher = watch(this.deps.paths.exitsDir, (_event, file) => {
        if (!file) return;
        for (const r of this.deps.records.values()) if (r.containerId === file) void this.check(r.taskId);
      });
      this.watcher.unref();
    } catch (e) {
      this.deps.logger.warn({ err: messageOf(e) }, 'cannot watch the exit directory; polling');
    }
    this.poller = setInterval(() => {
      for (const id of this.deps.records.keys()) if (!this.exits.has(id)) void this.check(id);
    }, 1000);
    this.poller.unref();
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.poller) clearInterval(this.poller);
    this.poller = undefined;
  }

  /** A promise of the task's exit status (the same one for every caller until it settles). */
  waiter(taskId: string): Promise<ExitStatus> {
    let d = this.waiters.get(taskId);
    if (!d) {
      d = deferred<ExitStatus>();
      this.waiters.set(taskId, d);
    }
    return d.promise;
  }

  /** The task is gone (removed): forget its status, and whoever waits gets "unknown". */
  forget(taskId: string): void {
    this.exits.delete(taskId);
    const w = this.waiters.get(taskId);
    if (w) {
      w.resolve(exitStatusFrom(null, false));
      this.waiters.delete(taskId);
    }
  }

  /** Finalizes the task's exit if it has exited (exit file written, or nobody left to write it). */
  async check(taskId: string): Promise<void> {
    const r = this.deps.records.get(taskId);
    if (!r || r.phase === 'creating' || this.deps.removing.has(taskId) || this.exits.has(taskId)) return;
    const exitFile = this.deps.paths.exitFile(r);
    try {
      if (await exists(exitFile)) {
        await this.finalize(r);
        return;
      }
      if (!(await isAlive(r.pid, r.pidStart)) && !(await conmonAlive(r)) && !(await exists(exitFile))) {
        await this.finalize(r);
      }
    } catch (e) {
      this.deps.logger.warn({ taskId, err: messageOf(e) }, 'exit check failed');
    }
  }

  finalize(r: TaskRecord): Promise<ExitStatus> {
    const known = this.exits.get(r.taskId);
    if (known) return Promise.resolve(known);
    let p = this.finalizing.get(r.taskId);
    if (p) return p;
    p = (async () => {
      const taskDir = this.deps.paths.taskDir(r.taskId);
      const saved = await readExit(taskDir);
      let status: ExitStatus;
      if (saved) status = saved;
      else {
        const text = await readFile(this.deps.paths.exitFile(r), 'utf8').catch(() => undefined);
        const n = text === undefined ? NaN : parseInt(text.trim(), 10);
        const code = Number.isFinite(n) && n >= 0 ? n : null;
        const oom = r.cgroups ? (await oomKillCount(r.cgroups)) > 0 : false;
        status = exitStatusFrom(code, oom);
        if (!this.deps.removing.has(r.taskId)) await writeExit(taskDir, status).catch(() => undefined);
      }
      this.exits.set(r.taskId, status);
      this.waiters.get(r.taskId)?.resolve(status);
      this.waiters.delete(r.taskId);
      this.deps.logger.debug({ taskId: r.taskId, status }, 'task exited');
      return status;
    })().finally(() => this.finalizing.delete(r.taskId));
    this.finalizing.set(r.taskId, p);
    return p;
  }
}

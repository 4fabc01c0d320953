/** Where the oci runtime keeps what: the state directory's layout and the names derived from a task id. */
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import type { TaskRecord } from './task-record.ts';

export class OciPaths {
  readonly stateDir: string;
  readonly tasksDir: string;
  readonly exitsDir: string;
  readonly socketsDir: string;
  /** Logs (and exits) of tasks' previous runs, kept across restarts in place: <id>.log, <id>.exit.json. */
  readonly previousDir: string;
  readonly runtimeRoot: string;

  constructor(stateDir: string, runtimeRoot?: string) {
    // Absolute: the tools (mount, runc, conmon) run in other working directories.
    this.stateDir = resolve(stateDir);
    this.tasksDir = join(this.stateDir, 'tasks');
    this.exitsDir = join(this.stateDir, 'exits');
    this.socketsDir = join(this.stateDir, 'sockets');
    this.previousDir = join(this.stateDir, 'previous');
    this.runtimeRoot = resolve(runtimeRoot ?? join(this.stateDir, 'runtime'));
  }

  taskDir(taskId: string): string {
    return join(this.tasksDir, taskId);
  }

  /** Short hash naming host-global things: netns dabba-KEY, veth dbvKEY, cgroup leaf. */
  keyOf(taskId: string): string {
    return createHash('sha256').update(`${this.stateDir}\0${taskId}`).digest('hex').slice(0, 10);
  }

  exitFile(r: Pick<TaskRecord, 'containerId'>): string {
    return join(this.exitsDir, r.containerId);
  }

  previousLog(taskId: string): string {
    return join(this.previousDir, `${taskId}.log`);
  }

  previousExit(taskId: string): string {
    return join(this.previousDir, `${taskId}.exit.json`);
  }
}

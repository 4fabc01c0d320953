/**
 * What a process task is started as: its command resolved on its PATH, its working directory
 * checked, and its environment (a few variables inherited from the agent, then the spec's, then
 * the launch's; its ports' variables are added by the runtime once they are allocated).
 */
import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { TaskLaunch } from '../runtime.ts';
import { resolveCommand } from './command-lookup.ts';
import { startError } from './task-record.ts';

/** Variables of the agent's own environment a task inherits; everything else comes from the spec. */
const INHERITED_ENV = ['PATH', 'HOME', 'USER', 'LOGNAME', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface LaunchCommand {
  /** The command as given (argv[0]) and its arguments. */
  name: string;
  args: string[];
  /** The executable it resolved to. */
  file: string;
  /** The task's own directory (dir/work) and the directory it starts in. */
  workDir: string;
  cwd: string;
  /** Its environment, without its ports' variables. */
  env: Record<string, string>;
}

/** Resolves a launch's command, working directory and environment; throws a start error if it cannot. */
export async function launchCommand(launch: TaskLaunch, dir: string): Promise<LaunchCommand> {
  const { taskId, spec } = launch;
  const [name, ...args] = spec.command;
  if (name === undefined) throw startError(taskId, 'CommandNotFound', 'the task has no command');
  const workDir = join(dir, 'work');
  const cwd = spec.workingDir === undefined ? workDir : resolve(workDir, spec.workingDir);
  if (spec.workingDir !== undefined) {
    const isDir = await stat(cwd).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!isDir) {
      throw startError(taskId, 'StartFailed', `working directory ${cwd} does not exist`, {
        workingDir: cwd,
      });
    }
  }
  const baseEnv: Record<string, string> = {};
  for (const k of INHERITED_ENV) {
    const v = process.env[k];
    if (v !== undefined) baseEnv[k] = v;
  }
  baseEnv['PATH'] ??= DEFAULT_PATH;
  const envWithoutPorts = { ...baseEnv, ...spec.env, ...launch.env };
  const file = await resolveCommand(name, envWithoutPorts['PATH'] ?? DEFAULT_PATH, cwd);
  if (file === undefined) {
    throw startError(taskId, 'CommandNotFound', `command not found: ${name}`, { command: name });
  }
  return { name, args, file, workDir, cwd, env: envWithoutPorts };
}

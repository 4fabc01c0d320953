/**
 * `dabba exec` with the process runtime: the command runs with the task's environment and working
 * directory, in a process group of its own (an abort kills everything it started). With a terminal
 * (`-t`) it runs under `script` (see ../pty.ts) on a pty of its own, as a new session; an abort then
 * kills script and every process of that session.
 */
import { spawn } from 'node:child_process';
import { childSession, failedSession, type ExecChild } from '../exec-session.ts';
import { ptyResizer, scriptArgs, scriptChild, scriptPtyTarget, shellLine, shellQuote } from '../pty.ts';
import type { ExecSession, ExecStreamOptions } from '../runtime.ts';
import { resolveCommand } from './command-lookup.ts';
import { sessionMembers } from './proc.ts';

function trySignal(target: number, signal: NodeJS.Signals): void {
  try {
    process.kill(target, signal);
  } catch {
    // gone already (ESRCH)
  }
}

export async function processExecStream(
  command: string[],
  task: { env: Record<string, string>; cwd: string; defaultPath: string },
  options: ExecStreamOptions,
): Promise<ExecSession> {
  const { env, cwd } = task;
  const [name, ...args] = command;
  const file =
    name === undefined ? undefined : await resolveCommand(name, env['PATH'] ?? task.defaultPath, cwd);
  if (name === undefined || file === undefined) return failedSession(127, `${name ?? ''}: command not found`);
  if (options.tty) {
    // script runs `$SHELL -c`: /bin/sh for it, and the task's own SHELL (or none) for the command.
    const shell = env['SHELL'] === undefined ? 'unset SHELL; ' : `SHELL=${shellQuote(env['SHELL'])}; `;
    const child = spawn('script', scriptArgs(`${shell}exec ${shellLine([file, ...args])}`, options.tty), {
      cwd,
      env: { ...env, SHELL: '/bin/sh' },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const scriptPid = child.pid;
    const kill = (): void => {
      if (scriptPid === undefined) return;
      void (async () => {
        const session = await scriptChild(scriptPid, 0);
        if (session !== undefined) for (const m of await sessionMembers(session)) trySignal(m.pid, 'SIGKILL');
        trySignal(-scriptPid, 'SIGKILL');
      })();
    };
    const s = childSession(child, kill, options.signal, true);
    return scriptPid === undefined ? s : { ...s, resize: ptyResizer(scriptPtyTarget(scriptPid)) };
  }
  const child = spawn(file, args, {
    argv0: name,
    cwd,
    env,
    detached: true, // its own process group: an abort kills everything it started
    stdio: [options.stdin === true ? 'pipe' : 'ignore', 'pipe', 'pipe'],
  }) as ExecChild;
  const kill = (): void => {
    if (child.pid !== undefined) trySignal(-child.pid, 'SIGKILL');
  };
  return childSession(child, kill, options.signal);
}

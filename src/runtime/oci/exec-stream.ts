/**
 * `dabba exec` in a container: `runc exec` (or `crun exec`) of the command in the task's container,
 * so it runs in the container's namespaces and cgroup with its process settings (environment,
 * working directory, user, capabilities); its output is streamed back as it comes.
 *
 * With a terminal (`-t`): `runc exec --tty` in the foreground makes a pty inside the container (on
 * its own /dev/pts, so `tty` answers there), copies between it and its own stdio, and when its stdin
 * is a terminal puts that in raw mode and follows its size (at start and on SIGWINCH). It is run
 * under `script` (pty.ts), which gives it that terminal on the host: the agent writes to script's
 * stdin, reads its stdout, and resizes script's pty, which runc passes on to the container's.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { childSession, type ExecChild } from '../exec-session.ts';
import { killExecByPidFile } from './exec-kill.ts';
import { ptyResizer, scriptArgs, scriptPtyTarget, shellLine } from '../pty.ts';
import type { ExecSession } from '../runtime.ts';

export function ociExecStream(o: {
  cli: string;
  globalArgs: string[];
  containerId: string;
  /** Where runc writes the exec'd process's host pid (removed when it has ended). */
  pidFile: string;
  command: string[];
  signal?: AbortSignal;
  /** Pass stdin (ExecSession.input). */
  stdin?: boolean;
  /** A terminal of this size. */
  tty?: { cols: number; rows: number };
}): ExecSession {
  const execArgs = [
    ...o.globalArgs,
    'exec',
    ...(o.tty ? ['--tty'] : []),
    '--pid-file',
    o.pidFile,
    o.containerId,
    ...o.command,
  ];
  const child = o.tty
    ? spawn('script', scriptArgs(`exec ${shellLine([o.cli, ...execArgs])}`, o.tty), {
        env: { ...process.env, SHELL: '/bin/sh' },
        stdio: ['pipe', 'pipe', 'pipe'],
      })
    : (spawn(o.cli, execArgs, { stdio: [o.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] }) as ExecChild);
  let ended = false;
  // As for exec probes: the exec'd process is killed by pid and `runc exec` left to reap it (killing
  // runc exec itself would orphan the process out of the container's pid namespace).
  const kill = (): void => killExecByPidFile(o.pidFile, () => ended, child);
  const session = childSession(child, kill, o.signal, o.tty !== undefined);
  const exit = session.exit.finally(() => {
    ended = true;
    return rm(o.pidFile, { force: true });
  });
  // The container's pty is sized directly (through /proc/PID/fd/0 of the exec'd process: crun does
  // not pass SIGWINCH on), and script's too (runc passes its size on when it changes).
  const hostPty = child.pid === undefined ? undefined : scriptPtyTarget(child.pid);
  const resize =
    o.tty && hostPty
      ? ptyResizer(async () => {
          const pid = Number((await readFile(o.pidFile, 'utf8').catch(() => '')).trim());
          return [...(await hostPty()), ...(pid > 0 ? [`/proc/${pid}/fd/0`] : [])];
        })
      : undefined;
  return {
    output: session.output,
    exit,
    ...(session.input ? { input: session.input } : {}),
    ...(resize ? { resize } : {}),
  };
}

/**
 * `dabba exec` in a container: `runc exec` (or `crun exec`) of the command in the task's container,
 * so it runs in the container's namespaces and cgroup with its process settings (environment,
 * working directory, user, capabilities); its output is streamed back as it comes.
 */
import { spawn } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { sleep } from '../../lib/index.ts';
import { childSession } from '../exec-session.ts';
import type { ExecSession } from '../runtime.ts';

export function ociExecStream(o: {
  cli: string;
  globalArgs: string[];
  containerId: string;
  /** Where runc writes the exec'd process's host pid (removed when it has ended). */
  pidFile: string;
  command: string[];
  signal?: AbortSignal;
}): ExecSession {
  const child = spawn(
    o.cli,
    [...o.globalArgs, 'exec', '--pid-file', o.pidFile, o.containerId, ...o.command],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let ended = false;
  // As for exec probes: the exec'd process is killed by pid and `runc exec` left to reap it (killing
  // runc exec itself would orphan the process out of the container's pid namespace).
  const kill = (): void => {
    void (async () => {
      for (let i = 0; i < 40 && !ended; i++) {
        const pid = Number((await readFile(o.pidFile, 'utf8').catch(() => '')).trim());
        if (pid > 0) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
          break;
        }
        await sleep(50);
      }
      await sleep(2000);
      if (!ended) child.kill('SIGKILL');
    })();
  };
  const session = childSession(child, kill, o.signal);
  const exit = session.exit.finally(() => {
    ended = true;
    return rm(o.pidFile, { force: true });
  });
  return { output: session.output, exit };
}

import { readFile } from 'node:fs/promises';
import { sleep } from '../../lib/index.ts';

/**
 * Ends a command run with `runc/crun exec --pid-file`: the exec'd process is killed by its pid and
 * `runc exec` is left to reap it (killing runc exec itself would orphan the process out of the
 * container's pid namespace, whose teardown then waits for the host's init to reap it). If the pid
 * never shows up, or the exec does not end within 2 s, runc exec itself is killed.
 */
export function killExecByPidFile(
  pidFile: string,
  ended: () => boolean,
  child: { kill(signal: NodeJS.Signals): unknown },
): void {
  void (async () => {
    for (let i = 0; i < 40 && !ended(); i++) {
      const pid = Number((await readFile(pidFile, 'utf8').catch(() => '')).trim());
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
    if (!ended()) child.kill('SIGKILL');
  })();
}

/** How a task's run ended, in the words of its status (reason, message) and for its restart policy. */
import type { ExitStatus } from '../runtime/index.ts';

/** The end of a run: its exit, or the liveness probe's kill (then the exit is of that stop). */
export function describeExit(
  exit: ExitStatus,
  livenessFailed: boolean,
): { exitCode: number | null; signal: string | null; reason: string; message: string; crashed: boolean } {
  const reason = livenessFailed ? 'LivenessFailed' : exit.oomKilled ? 'OOMKilled' : exit.reason;
  const message = livenessFailed
    ? 'liveness probe failed; task killed'
    : exit.oomKilled
      ? 'killed by the OOM killer (memory limit reached)'
      : exit.exitCode === null
        ? 'process ended (exit code unknown: it ended while the agent was away)'
        : `exited with code ${exit.exitCode}${exit.signal ? ` (${exit.signal})` : ''}`;
  const crashed = livenessFailed || exit.oomKilled || exit.exitCode !== 0;
  return { exitCode: exit.exitCode, signal: exit.signal, reason, message, crashed };
}

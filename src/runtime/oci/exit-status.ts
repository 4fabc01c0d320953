/** A task's ExitStatus from conmon's exit code and the cgroup's OOM-kill counter. */
import { constants as osConstants } from 'node:os';
import type { ExitStatus } from '../runtime.ts';

function signalName(n: number): string | null {
  for (const [name, num] of Object.entries(osConstants.signals)) if (num === n) return name;
  return null;
}

/** ExitStatus from conmon's exit code and the cgroup's OOM-kill counter. */
export function exitStatusFrom(code: number | null, oomKilled: boolean, finishedAt = Date.now()): ExitStatus {
  if (oomKilled)
    return { exitCode: 137, signal: 'SIGKILL', oomKilled: true, reason: 'OOMKilled', finishedAt };
  if (code === null) return { exitCode: null, signal: null, oomKilled: false, reason: 'Unknown', finishedAt };
  const signal = code > 128 && code <= 128 + 64 ? signalName(code - 128) : null;
  return { exitCode: code, signal, oomKilled: false, reason: signal ? 'Killed' : 'Exited', finishedAt };
}

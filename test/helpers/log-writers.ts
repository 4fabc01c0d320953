/** The log-writer processes (src/runtime/process/log-writer-main.ts) a test started. */
import { readdir, readFile } from 'node:fs/promises';

/** Pids of the log writers serving `stateDir` (found by their command line in /proc). */
export async function writerPids(stateDir: string): Promise<number[]> {
  const out: number[] = [];
  for (const pid of await readdir('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
    if (cmd.some((a) => a.endsWith('log-writer-main.ts')) && cmd.includes(stateDir)) out.push(Number(pid));
  }
  return out;
}

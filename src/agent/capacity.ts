import { readFile } from 'node:fs/promises';
import { availableParallelism, totalmem } from 'node:os';
import type { HostCapacity } from '../model/index.ts';

/** What this host offers to tasks: all cores, all memory, the kernel's pid limit. */
export async function detectCapacity(): Promise<HostCapacity> {
  let pids = 32768;
  try {
    pids = Number((await readFile('/proc/sys/kernel/pid_max', 'utf8')).trim()) || pids;
  } catch {
    // not Linux: keep the default
  }
  return { cpu: availableParallelism(), memoryBytes: totalmem(), pids };
}

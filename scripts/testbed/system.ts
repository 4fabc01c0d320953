/**
 * Small synchronous wrappers over `ip` and /proc. Synchronous on purpose: teardown must also work
 * from a process 'exit' handler, where nothing asynchronous runs any more.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runSync(cmd: string, args: string[], timeoutMs = 10_000): RunResult {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) return { code: 127, stdout: '', stderr: r.error.message };
  return { code: r.status ?? 1, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `ip ARGS`; throws with its message when it fails. */
export function ip(args: string[]): string {
  const r = runSync('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
  return r.stdout;
}

/** Runs `ip ARGS`, ignoring failure (for cleanup of things that may already be gone). */
export function ipQuiet(args: string[]): boolean {
  return runSync('ip', args).code === 0;
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Names of the network namespaces that exist. */
export function listNetns(): string[] {
  const r = runSync('ip', ['netns', 'list']);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n !== '');
}

/** Names of the links of the root namespace. */
export function listLinks(): string[] {
  const r = runSync('ip', ['-o', 'link', 'show']);
  if (r.code !== 0) return [];
  const names: string[] = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\d+:\s+([^:@\s]+)/.exec(line);
    if (m?.[1]) names.push(m[1]);
  }
  return names;
}

export function linkExists(name: string): boolean {
  return runSync('ip', ['link', 'show', 'dev', name]).code === 0;
}

/** Pids of the processes in a network namespace (empty when it does not exist). */
export function netnsPids(netns: string): number[] {
  const r = runSync('ip', ['netns', 'pids', netns]);
  if (r.code !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => Number(l.trim()))
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Whether `pid` is the process runtime's log writer (a process of the runtime, not a task). */
export function isLogWriter(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('log-writer-main.ts');
  } catch {
    return false;
  }
}

/** The start time of a process (clock ticks since boot), to tell it from a later one with its pid. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // After "pid (comm) ": state is field 3, starttime field 22.
    if (fields[0] === 'Z') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True when the process `pid` that started at `start` is still running (not a zombie). */
export function isSameProcessAlive(pid: number, start: string): boolean {
  return processStart(pid) === start;
}

export function killQuiet(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone already
  }
}

/** Sets a sysctl under /proc/sys/net in a namespace (the root one when netns is undefined). */
export function netSysctl(path: string, value: string, netns?: string): void {
  const file = `/proc/sys/net/${path}`;
  if (netns === undefined) {
    try {
      writeFileSync(file, value);
    } catch {
      // no IPv6 here, or not allowed: nothing to turn off
    }
  } else {
    runSync('ip', ['netns', 'exec', netns, 'sh', '-c', `echo ${value} > ${file}`]);
  }
}

/**
 * What the oci runtime keeps on disk per task, in STATE/tasks/<task id>/:
 *   state.json   this record (written as the first things are created, updated as the task starts;
 *                a task directory without one is purged by the names derived from the task id)
 *   exit.json    the final ExitStatus, once known
 *   config.json  the OCI bundle config; rootfs/ (overlay mount), upper/, work/
 *   ctr.log      conmon's CRI-format log; pidfile, conmon.pid; hosts, hostname
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExitStatus, TaskHandle } from '../runtime.ts';
import type { CgroupPaths } from './cgroups.ts';
import { attempt } from '../../lib/attempt.ts';

export type TaskPhase = 'creating' | 'created' | 'running';

export interface TaskRecord {
  taskId: string;
  job: string;
  version: number;
  /** Container id given to runc/crun and conmon. */
  containerId: string;
  /** Short hash naming host-global things: netns dabba-KEY, veth dbvKEY, cgroup leaf. */
  key: string;
  image: string;
  imageDigest: string;
  runtime: 'runc' | 'crun';
  phase: TaskPhase;
  address: string;
  ports: Record<string, number>;
  netns: string;
  hostVeth: string;
  cgroupsPath: string;
  /** Leaf name of the task's cgroup directories. */
  cgroupLeaf: string;
  pid?: number;
  /** Start time of pid (clock ticks since boot, /proc/PID/stat field 22): guards against pid reuse. */
  pidStart?: number;
  conmonPid?: number;
  cgroups?: CgroupPaths;
  startedAt?: number;
  createdAt: number;
}

export function recordPath(taskDir: string): string {
  return join(taskDir, 'state.json');
}

/**
 * Writes a small file of the runtime's state at once, with synchronous calls (tens of µs each):
 * through Node's four file-system threads, a start's dozen small writes queued behind each other
 * and behind the other starts' (three hops a file: open, write, close), and on a loaded host each
 * hop waited to be scheduled again. Async in form: a failure (a full disk) rejects.
 */
export function writeSmallFile(path: string, data: string, mode?: number): Promise<void> {
  return attempt(() => writeFileSync(path, data, mode === undefined ? {} : { mode }));
}

/** Writes `value` as JSON to `path` by a rename (small files: synchronous calls, see writeSmallFile). */
export function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}`;
  return attempt(() => {
    writeFileSync(tmp, JSON.stringify(value, null, 2));
    renameSync(tmp, path);
  });
}

export async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

export async function readRecord(taskDir: string): Promise<TaskRecord | undefined> {
  return readJson<TaskRecord>(recordPath(taskDir));
}

export async function writeRecord(taskDir: string, r: TaskRecord): Promise<void> {
  await writeJsonAtomic(recordPath(taskDir), r);
}

export async function readExit(taskDir: string): Promise<ExitStatus | undefined> {
  return readJson<ExitStatus>(join(taskDir, 'exit.json'));
}

export async function writeExit(taskDir: string, s: ExitStatus): Promise<void> {
  await writeJsonAtomic(join(taskDir, 'exit.json'), s);
}

/**
 * Start time of a process (field 22 of /proc/PID/stat), undefined if it does not exist. A
 * synchronous read, as for cgroupPathsOf: /proc never waits for a disk.
 */
export function processStartTime(pid: number): Promise<number | undefined> {
  return Promise.resolve(startTimeOf(pid));
}

function startTimeOf(pid: number): number | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const v = Number(fields[19]);
    return Number.isFinite(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether `pid` is alive and (when `start` is given) still the same process. Zombies count as dead. */
export async function isAlive(pid: number | undefined, start?: number): Promise<boolean> {
  if (!pid || pid <= 0) return false;
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return false;
    return start === undefined || Number(fields[19]) === start;
  } catch {
    return false;
  }
}

/** What the runtime reports of a task it started or re-adopted. */
export function handleOf(r: TaskRecord): TaskHandle {
  return {
    taskId: r.taskId,
    pid: r.pid ?? 0,
    address: r.address,
    ports: { ...r.ports },
    startedAt: r.startedAt ?? r.createdAt,
  };
}

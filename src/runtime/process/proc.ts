/**
 * Reading /proc: process state, start time (to tell a live task from a reused pid), and the
 * members of a task's session for stats and clean-up. Linux only, like the rest of the runtime.
 */
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: the unit of the tick counts in /proc/PID/stat; 100 on every Linux ABI. */
const TICKS_PER_SECOND = 100;

export interface ProcStat {
  pid: number;
  /** R, S, D, Z, T, X, ... */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** User + system CPU ticks of the process itself. */
  cpuTicks: number;
  /** CPU ticks of its waited-for children. */
  childCpuTicks: number;
  threads: number;
  /** Clock ticks after boot when the process started: with the pid, identifies a process. */
  startTime: number;
}

/** Parses one /proc/PID/stat line; the command name may hold spaces and parentheses. */
export function parseStat(text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open).trim());
  const f = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const n = (i: number): number => Number(f[i]);
  const stat: ProcStat = {
    pid,
    state: f[0] ?? '?',
    ppid: n(1),
    pgrp: n(2),
    session: n(3),
    cpuTicks: n(11) + n(12),
    childCpuTicks: n(13) + n(14),
    threads: n(17),
    startTime: n(19),
  };
  return Number.isInteger(pid) && Number.isFinite(stat.startTime) ? stat : undefined;
}

export async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

function running(stat: ProcStat | undefined): stat is ProcStat {
  return stat !== undefined && stat.state !== 'Z' && stat.state !== 'X' && stat.state !== 'x';
}

/**
 * Whether pid is a live (not zombie) process, and the same one that started at startTime when
 * that is known.
 */
export async function isAlive(pid: number, startTime: number | null): Promise<boolean> {
  const stat = await readStat(pid);
  return running(stat) && (startTime === null || stat.startTime === startTime);
}

/** Every live process's stat: one read of /proc. */
export async function liveProcesses(): Promise<ProcStat[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const stats = await Promise.all(names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))));
  return stats.filter((s): s is ProcStat => running(s));
}

/**
 * Scans of /proc for callers that need one begun after they asked (stopping and killing tasks):
 * whoever asks while a scan runs shares the next one. Tasks stopped all at once (an agent closing
 * with its tasks, a job's tasks stopped together) then cost about two scans at a time instead of
 * one each per poll, every one reading every process's stat.
 */
export class FreshProcScan {
  readonly #scan: () => Promise<ProcStat[]>;
  #current: Promise<ProcStat[]> | undefined;
  #next: Promise<ProcStat[]> | undefined;

  constructor(scan: () => Promise<ProcStat[]> = liveProcesses) {
    this.#scan = scan;
  }

  processes(): Promise<ProcStat[]> {
    if (this.#current === undefined) {
      const scan = this.#scan().finally(() => {
        if (this.#current === scan) this.#current = undefined;
      });
      this.#current = scan;
      return scan;
    }
    this.#next ??= this.#current
      .catch(() => undefined)
      .then(() => {
        this.#next = undefined;
        return this.processes();
      });
    return this.#next;
  }
}

const freshScan = new FreshProcScan();

/** Live processes whose session id is sid (a task's process tree, since it runs in its own session). */
export async function sessionMembers(sid: number): Promise<ProcStat[]> {
  return (await freshScan.processes()).filter((s) => s.session === sid);
}

/**
 * One scan of /proc shared by the callers within `maxAgeMs` of it (default 500 ms). A host's tasks'
 * usage is asked for all at once (metrics collection, status reports), and each scan reads every
 * process's stat: N tasks then cost one scan instead of N (100 tasks' usage on a machine of 71
 * processes: 515 ms of CPU one scan each, 5 ms shared). For figures only: stopping and killing scan
 * afresh.
 */
export class SharedProcScan {
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #scan: () => Promise<ProcStat[]>;
  #last: { at: number; processes: Promise<ProcStat[]> } | undefined;

  constructor(o: { maxAgeMs?: number; now?: () => number; scan?: () => Promise<ProcStat[]> } = {}) {
    this.#maxAgeMs = o.maxAgeMs ?? 500;
    this.#now = o.now ?? (() => performance.now());
    this.#scan = o.scan ?? liveProcesses;
  }

  processes(): Promise<ProcStat[]> {
    const now = this.#now();
    if (this.#last === undefined || now - this.#last.at > this.#maxAgeMs)
      this.#last = { at: now, processes: this.#scan() };
    return this.#last.processes;
  }

  async sessionMembers(sid: number): Promise<ProcStat[]> {
    return (await this.processes()).filter((s) => s.session === sid);
  }
}

/** Resident memory of a process in bytes (VmRSS), 0 when unknown (kernel threads, gone). */
export async function rssBytes(pid: number): Promise<number> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m?.[1] === undefined ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

export function ticksToSeconds(ticks: number): number {
  return ticks / TICKS_PER_SECOND;
}

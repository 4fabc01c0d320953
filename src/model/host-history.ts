/**
 * Host history (atop style): what `GET /v1/hosts/HOST/history?at=TIME` answers and
 * `dabba host history HOST --at TIME` prints. One snapshot of a host, taken every few seconds by its
 * agent: the machine's CPU, memory, disk, network and pressure over the interval that ended at `time`,
 * and every process then, busiest first, with the task it belonged to.
 */
import { parseDuration } from '../lib/durations.ts';

export interface HostHistoryProcess {
  pid: number;
  ppid: number;
  /** The kernel's state letter (R running, S sleeping, D disk wait, Z zombie, ...). */
  state: string;
  command: string;
  /** CPU over the interval, in percent of one core (a busy loop is about 100). */
  cpuPercent: number;
  rssBytes: number;
  readBytesPerSec: number;
  writeBytesPerSec: number;
  /** The task the process belongs to (its cgroup, or a descendant of the task's main process). */
  task?: string;
  job?: string;
  namespace?: string;
}

export interface HostHistorySnapshot {
  host: string;
  /** When the snapshot was taken (epoch ms); the figures cover the `intervalMs` before it. */
  time: number;
  intervalMs: number;
  /** The snapshots just before and after this one (epoch ms), if any: `--prev` / `--next`. */
  prev?: number;
  next?: number;
  cpu: {
    cpus: number;
    /** Percent of all cores, 0-100. */
    busyPercent: number;
    userPercent: number;
    systemPercent: number;
    iowaitPercent: number;
    stealPercent: number;
  };
  load: [number, number, number];
  memory: {
    totalBytes: number;
    availableBytes: number;
    usedBytes: number;
    cachedBytes: number;
    swapUsedBytes: number;
  };
  disk: { readBytesPerSec: number; writeBytesPerSec: number };
  net: { rxBytesPerSec: number; txBytesPerSec: number };
  /** Pressure stall information, "some" over the last 10 s, in percent (absent without /proc/pressure). */
  pressure?: { cpu: number; memory: number; io: number };
  /** Every process then, highest CPU first. */
  processes: HostHistoryProcess[];
}

/** Which snapshot relative to the one nearest `at`: the nearest itself, the one before or after. */
export type HistoryStep = 'nearest' | 'prev' | 'next';

/**
 * `--at` / `?at=`: an ISO-8601 time, epoch milliseconds, `now`, or a time relative to now such as
 * `-30s` or `-1h30m`. Returns epoch ms or an error message.
 */
export function parseHistoryTime(
  text: string,
  now: number,
): { ok: true; ms: number } | { ok: false; error: string } {
  const s = text.trim();
  if (s === 'now') return { ok: true, ms: now };
  if (s.startsWith('-')) {
    const d = parseDuration(s.slice(1));
    return d.ok ? { ok: true, ms: now - d.ms } : { ok: false, error: `"${text}": ${d.error}` };
  }
  if (/^\d{10,16}$/.test(s)) return { ok: true, ms: Number(s) };
  if (/^\d{4}-\d{2}-\d{2}/.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return { ok: true, ms };
  }
  return {
    ok: false,
    error: `"${text}" is not a time: use ISO-8601 (2026-01-02T15:04:05Z), epoch milliseconds, now, or a relative time such as -30s`,
  };
}

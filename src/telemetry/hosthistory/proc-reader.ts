/**
 * Reads the host and its processes from /proc (and /sys) as raw counters: cumulative CPU ticks and
 * byte counts, which the sampler turns into deltas. Reads are synchronous: procfs files are tiny and
 * served from memory, and a few hundred synchronous reads cost far less CPU than as many promises.
 * Processes vanish while being read: any entry that cannot be read is skipped, never an error.
 */
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';

/** Cumulative counters of the whole host. */
export interface HostRaw {
  cpus: number;
  /** user, nice, system, idle, iowait, irq, softirq, steal (ticks since boot). */
  cpuTicks: number[];
  load: [number, number, number];
  /** total, available, free, cached, swap total, swap free (KiB). */
  memKb: number[];
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  /** cpu, memory, io: "some avg10" in percent; undefined without /proc/pressure. */
  pressure?: [number, number, number];
}

/** One process's cumulative counters. */
export interface ProcRaw {
  pid: number;
  /** Start time in ticks since boot: with the pid, the process's identity (pids are reused). */
  start: number;
  ppid: number;
  state: string;
  comm: string;
  cpuTicks: number;
  rssKb: number;
  readBytes: number;
  writeBytes: number;
}

/** One buffer for every read: procfs files are small, and a read of this size gets them whole. */
let buffer = Buffer.allocUnsafe(64 * 1024);

/** open, read, close: half the system calls of readFileSync (which also stats and reads to EOF). */
function readText(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let length = 0;
    for (;;) {
      if (length === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    return buffer.toString('latin1', 0, length);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

const PAGE_KB = 4;

/** Parses /proc/PID/stat; the command name is in parentheses and may itself hold spaces or ')'. */
export function parseStat(pid: number, text: string): Omit<ProcRaw, 'readBytes' | 'writeBytes'> | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const f = text.slice(close + 2).split(' ');
  const num = (i: number): number => Number(f[i] ?? NaN);
  const utime = num(11);
  const stime = num(12);
  const start = num(19);
  const rss = num(21);
  const ppid = num(1);
  if (![utime, stime, start, rss, ppid].every(Number.isFinite)) return undefined;
  return {
    pid,
    start,
    ppid,
    state: f[0] ?? '?',
    comm: text.slice(open + 1, close),
    cpuTicks: utime + stime,
    rssKb: rss * PAGE_KB,
  };
}

function field(text: string, name: string): number {
  const at = text.indexOf(name);
  if (at < 0) return 0;
  const end = text.indexOf('\n', at + name.length);
  return Number(text.slice(at + name.length, end < 0 ? undefined : end)) || 0;
}

function parseIo(text: string | undefined): { readBytes: number; writeBytes: number } {
  if (text === undefined) return { readBytes: 0, writeBytes: 0 };
  // "cancelled_write_bytes" follows "write_bytes": the first match is the right one.
  return { readBytes: field(text, '\nread_bytes: '), writeBytes: field(text, '\nwrite_bytes: ') };
}

export class ProcReader {
  readonly #proc: string;
  readonly #sys: string;

  constructor(root = { proc: '/proc', sys: '/sys' }) {
    this.#proc = root.proc;
    this.#sys = root.sys;
  }

  /** Every process that could be read now. */
  processes(): ProcRaw[] {
    let names: string[];
    try {
      names = readdirSync(this.#proc);
    } catch {
      return [];
    }
    const out: ProcRaw[] = [];
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      const stat = readText(`${this.#proc}/${name}/stat`);
      if (stat === undefined) continue;
      const s = parseStat(pid, stat);
      if (s === undefined) continue;
      out.push({ ...s, ...parseIo(readText(`${this.#proc}/${name}/io`)) });
    }
    return out;
  }

  /** The process's command line (NULs as spaces, at most 512 characters); `[comm]` for kernel threads. */
  commandLine(pid: number, comm: string): string {
    const raw = readText(`${this.#proc}/${pid}/cmdline`);
    if (raw === undefined || raw === '') return `[${comm}]`;
    const s = raw.replace(/\0+$/, '').replaceAll('\0', ' ');
    return s.length > 512 ? s.slice(0, 512) : s;
  }

  /** The cgroup paths of a process (one per hierarchy), or [] if it is gone. */
  cgroups(pid: number): string[] {
    const text = readText(`${this.#proc}/${pid}/cgroup`);
    if (text === undefined) return [];
    const out = new Set<string>();
    for (const line of text.split('\n')) {
      const i = line.indexOf(':', line.indexOf(':') + 1);
      if (i > 0) out.add(line.slice(i + 1));
    }
    return [...out];
  }

  host(): HostRaw {
    const stat = readText(`${this.#proc}/stat`) ?? '';
    const cpuLine = /^cpu {2}(.*)$/m.exec(stat)?.[1] ?? '';
    const cpuTicks = cpuLine
      .trim()
      .split(/\s+/)
      .slice(0, 8)
      .map((x) => Number(x) || 0);
    while (cpuTicks.length < 8) cpuTicks.push(0);
    const cpus = (stat.match(/^cpu\d+ /gm) ?? []).length || 1;
    const loadParts = (readText(`${this.#proc}/loadavg`) ?? '').split(' ');
    const load: [number, number, number] = [0, 1, 2].map((i) => Number(loadParts[i]) || 0) as [
      number,
      number,
      number,
    ];
    const mem = readText(`${this.#proc}/meminfo`) ?? '';
    const kb = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(mem)?.[1] ?? 0);
    const memKb = ['MemTotal', 'MemAvailable', 'MemFree', 'Cached', 'SwapTotal', 'SwapFree'].map(kb);
    const disk = this.#disk();
    const net = this.#net();
    const pressure = this.#pressure();
    return {
      cpus,
      cpuTicks,
      load,
      memKb,
      diskReadBytes: disk[0],
      diskWriteBytes: disk[1],
      netRxBytes: net[0],
      netTxBytes: net[1],
      ...(pressure ? { pressure } : {}),
    };
  }

  /** Whole disks only (what /sys/block lists, without loop, ram, zram and device-mapper): no double count. */
  #disk(): [number, number] {
    let devices: Set<string>;
    try {
      devices = new Set(readdirSync(join(this.#sys, 'block')).filter((d) => !/^(loop|ram|zram|dm-)/.test(d)));
    } catch {
      devices = new Set();
    }
    let read = 0;
    let write = 0;
    for (const line of (readText(`${this.#proc}/diskstats`) ?? '').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || !devices.has(f[2] ?? '')) continue;
      read += Number(f[5]) * 512;
      write += Number(f[9]) * 512;
    }
    return [read, write];
  }

  /** Interfaces with a device behind them; if there are none (a VM's or a container's), all but lo. */
  #net(): [number, number] {
    const rows: { name: string; rx: number; tx: number }[] = [];
    for (const line of (readText(`${this.#proc}/net/dev`) ?? '').split('\n').slice(2)) {
      const colon = line.indexOf(':');
      if (colon < 0) continue;
      const name = line.slice(0, colon).trim();
      const f = line
        .slice(colon + 1)
        .trim()
        .split(/\s+/);
      if (name === 'lo') continue;
      rows.push({ name, rx: Number(f[0]) || 0, tx: Number(f[8]) || 0 });
    }
    let physical: string[] = [];
    try {
      physical = readdirSync(join(this.#sys, 'class', 'net')).filter((n) => {
        try {
          readdirSync(join(this.#sys, 'class', 'net', n, 'device'));
          return true;
        } catch {
          return false;
        }
      });
    } catch {
      physical = [];
    }
    const chosen = physical.length > 0 ? rows.filter((r) => physical.includes(r.name)) : rows;
    return [chosen.reduce((a, r) => a + r.rx, 0), chosen.reduce((a, r) => a + r.tx, 0)];
  }

  #pressure(): [number, number, number] | undefined {
    const out: number[] = [];
    for (const what of ['cpu', 'memory', 'io']) {
      const text = readText(`${this.#proc}/pressure/${what}`);
      if (text === undefined) return undefined;
      out.push(Number(/^some avg10=([\d.]+)/m.exec(text)?.[1] ?? 0));
    }
    return out as [number, number, number];
  }
}

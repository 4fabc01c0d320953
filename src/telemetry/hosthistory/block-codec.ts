/**
 * A block: consecutive samples stored together, compressed with zstd. Self-contained (a query
 * decompresses one block and nothing else): its first sample lists every process (the key frame);
 * each later one only the processes that are new, used CPU or did I/O, or changed (state, parent,
 * memory, command, task), plus the pids that are gone. A process not listed is carried over from the
 * sample before with no CPU and no I/O. Command lines, task and job ids are strings interned once per
 * block. Process rows and host figures are arrays of numbers: JSON keys would cost more than the data.
 */
import { zstdCompressSync, zstdDecompressSync, constants } from 'node:zlib';
import type { HostSample, ProcessSample, Sample } from './sample.ts';

const VERSION = 1;

/** [pid, ppid, state char code, command, task (-1: none), job (-1: none), cpu ticks, rss KiB, read, write] */
type Row = number[];

interface Frame {
  /** time, interval */
  t: [number, number];
  h: number[];
  /** Gone pids (not in the key frame). */
  g?: number[];
  p: Row[];
}

interface Payload {
  v: number;
  s: string[];
  f: Frame[];
}

function hostRow(h: HostSample): number[] {
  const row = [
    h.cpus,
    ...h.cpuTicks,
    ...h.load.map((x) => Math.round(x * 100)),
    ...h.memKb,
    h.diskReadBytes,
    h.diskWriteBytes,
    h.netRxBytes,
    h.netTxBytes,
  ];
  if (h.pressure) row.push(...h.pressure.map((x) => Math.round(x * 100)));
  return row;
}

function hostOf(r: number[]): HostSample {
  const n = (i: number): number => r[i] ?? 0;
  const h: HostSample = {
    cpus: n(0),
    cpuTicks: r.slice(1, 9),
    load: [n(9) / 100, n(10) / 100, n(11) / 100],
    memKb: r.slice(12, 18),
    diskReadBytes: n(18),
    diskWriteBytes: n(19),
    netRxBytes: n(20),
    netTxBytes: n(21),
  };
  if (r.length >= 25) h.pressure = [n(22) / 100, n(23) / 100, n(24) / 100];
  return h;
}

class Interner {
  readonly list: string[] = [];
  readonly #index = new Map<string, number>();
  of(s: string | undefined): number {
    if (s === undefined) return -1;
    let i = this.#index.get(s);
    if (i === undefined) {
      i = this.list.length;
      this.list.push(s);
      this.#index.set(s, i);
    }
    return i;
  }
}

function rowOf(p: ProcessSample, strings: Interner): Row {
  return [
    p.pid,
    p.ppid,
    p.state.charCodeAt(0) || 63,
    strings.of(p.command),
    strings.of(p.task),
    strings.of(p.job),
    p.cpuTicks,
    p.rssKb,
    p.readBytes,
    p.writeBytes,
  ];
}

/** Worth a row in a delta frame: new, active, or changed since the previous sample. */
function changed(row: Row, before: Row | undefined): boolean {
  if (before === undefined) return true;
  if (row[6] !== 0 || row[8] !== 0 || row[9] !== 0) return true;
  for (const i of [1, 2, 3, 4, 5, 7]) if (row[i] !== before[i]) return true;
  return false;
}

export function encodeBlock(samples: readonly Sample[], level = 3): Buffer {
  const strings = new Interner();
  const frames: Frame[] = [];
  let previous = new Map<number, Row>();
  for (const [i, s] of samples.entries()) {
    const rows = new Map<number, Row>();
    for (const p of s.processes) rows.set(p.pid, rowOf(p, strings));
    const frame: Frame = { t: [s.time, s.intervalMs], h: hostRow(s.host), p: [] };
    if (i === 0) {
      frame.p = [...rows.values()];
    } else {
      for (const [pid, row] of rows) if (changed(row, previous.get(pid))) frame.p.push(row);
      const gone = [...previous.keys()].filter((pid) => !rows.has(pid));
      if (gone.length > 0) frame.g = gone;
    }
    frames.push(frame);
    previous = rows;
  }
  const payload: Payload = { v: VERSION, s: strings.list, f: frames };
  return zstdCompressSync(Buffer.from(JSON.stringify(payload)), {
    params: { [constants.ZSTD_c_compressionLevel]: level },
  });
}

function processOf(r: Row, strings: readonly string[]): ProcessSample {
  const n = (i: number): number => r[i] ?? 0;
  const p: ProcessSample = {
    pid: n(0),
    ppid: n(1),
    state: String.fromCharCode(n(2)),
    command: strings[n(3)] ?? '?',
    cpuTicks: n(6),
    rssKb: n(7),
    readBytes: n(8),
    writeBytes: n(9),
  };
  const task = strings[n(4)];
  const job = strings[n(5)];
  if (n(4) >= 0 && task !== undefined) p.task = task;
  if (n(5) >= 0 && job !== undefined) p.job = job;
  return p;
}

/** The samples of a block; throws on a block that is not one (a torn or foreign file). */
export function decodeBlock(data: Uint8Array): Sample[] {
  const payload = JSON.parse(zstdDecompressSync(data).toString()) as Payload;
  if (payload.v !== VERSION || !Array.isArray(payload.f) || !Array.isArray(payload.s))
    throw new Error(`not a host history block of version ${VERSION}`);
  const out: Sample[] = [];
  const state = new Map<number, Row>();
  for (const frame of payload.f) {
    for (const pid of frame.g ?? []) state.delete(pid);
    // Carried over: the same process, idle over this interval.
    for (const [pid, row] of state) {
      if (row[6] !== 0 || row[8] !== 0 || row[9] !== 0)
        state.set(pid, [...row.slice(0, 6), 0, row[7] ?? 0, 0, 0]);
    }
    for (const row of frame.p) state.set(row[0] ?? 0, row);
    out.push({
      time: frame.t[0],
      intervalMs: frame.t[1],
      host: hostOf(frame.h),
      processes: [...state.values()].map((r) => processOf(r, payload.s)),
    });
  }
  return out;
}

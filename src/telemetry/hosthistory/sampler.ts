/**
 * Turns successive readings of /proc into samples: CPU ticks and I/O bytes as deltas over the
 * interval, each process's command line read once per process (a pid and start time), and the task
 * each process belongs to. A process belongs to a task when one of its cgroup paths has a segment
 * naming the task (the oci runtime's `/dabba/TASK-KEY`), or when it descends from a task's main
 * process (the process runtime runs tasks as plain children of the agent).
 */
import type { HostRaw, ProcRaw, ProcReader } from './proc-reader.ts';
import type { HostSample, ProcessSample, Sample } from './sample.ts';

/** A task on this host, as the agent knows it. */
export interface TaskRef {
  id: string;
  /** Job id (namespace:name outside `default`). */
  job: string;
  /** The host pid of its main process while it runs. */
  pid?: number;
}

interface Known {
  start: number;
  cpuTicks: number;
  readBytes: number;
  writeBytes: number;
  command: string;
  /** Cgroup path segments, and each without its last `-part` (the runtime's key suffix). */
  cgroupNames: string[];
}

function cgroupNames(paths: string[]): string[] {
  const out = new Set<string>();
  for (const path of paths)
    for (const seg of path.split('/')) {
      if (seg === '') continue;
      out.add(seg);
      const dash = seg.lastIndexOf('-');
      if (dash > 0) out.add(seg.slice(0, dash));
    }
  return [...out];
}

const nonNegative = (x: number): number => (x > 0 ? x : 0);

export class Sampler {
  readonly #reader: ProcReader;
  #host: { raw: HostRaw; time: number } | undefined;
  #known = new Map<number, Known>();

  constructor(reader: ProcReader) {
    this.#reader = reader;
  }

  /** Reads /proc now; the first call only primes (there is no interval yet) and returns undefined. */
  sample(time: number, tasks: readonly TaskRef[]): Sample | undefined {
    const raw = this.#reader.host();
    const procs = this.#reader.processes();
    const before = this.#host;
    const known = this.#known;
    const next = new Map<number, Known>();
    const rows: ProcessSample[] = [];
    const byPid = new Map<number, ProcRaw>();
    for (const p of procs) byPid.set(p.pid, p);
    const attribution = attributor(tasks, byPid, next);
    for (const p of procs) {
      const old = known.get(p.pid);
      const same = old !== undefined && old.start === p.start;
      const k: Known = same
        ? { ...old, cpuTicks: p.cpuTicks, readBytes: p.readBytes, writeBytes: p.writeBytes }
        : {
            start: p.start,
            cpuTicks: p.cpuTicks,
            readBytes: p.readBytes,
            writeBytes: p.writeBytes,
            command: this.#reader.commandLine(p.pid, p.comm),
            cgroupNames: cgroupNames(this.#reader.cgroups(p.pid)),
          };
      next.set(p.pid, k);
      // A process born during the interval: all it used, it used in the interval.
      const base = same ? old : { cpuTicks: 0, readBytes: 0, writeBytes: 0 };
      rows.push({
        pid: p.pid,
        ppid: p.ppid,
        state: p.state,
        command: k.command,
        cpuTicks: before ? nonNegative(p.cpuTicks - base.cpuTicks) : 0,
        rssKb: p.rssKb,
        readBytes: before ? nonNegative(p.readBytes - base.readBytes) : 0,
        writeBytes: before ? nonNegative(p.writeBytes - base.writeBytes) : 0,
      });
    }
    this.#known = next;
    for (const row of rows) {
      const t = attribution(row.pid);
      if (t) {
        row.task = t.id;
        row.job = t.job;
      }
    }
    this.#host = { raw, time };
    if (!before) return undefined;
    return { time, intervalMs: time - before.time, host: hostDelta(before.raw, raw), processes: rows };
  }
}

/** Which task a pid belongs to: by cgroup, else by its nearest ancestor that is a task's main process. */
function attributor(
  tasks: readonly TaskRef[],
  procs: ReadonlyMap<number, ProcRaw>,
  known: ReadonlyMap<number, Known>,
): (pid: number) => TaskRef | undefined {
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const byMainPid = new Map<number, TaskRef>();
  for (const t of tasks) if (t.pid !== undefined) byMainPid.set(t.pid, t);
  const memo = new Map<number, TaskRef | null>();
  const resolve = (pid: number, depth: number): TaskRef | undefined => {
    const m = memo.get(pid);
    if (m !== undefined) return m ?? undefined;
    let found: TaskRef | undefined;
    for (const name of known.get(pid)?.cgroupNames ?? []) {
      found = byId.get(name);
      if (found) break;
    }
    found ??= byMainPid.get(pid);
    const parent = procs.get(pid)?.ppid;
    if (!found && parent !== undefined && parent > 1 && depth < 64) found = resolve(parent, depth + 1);
    memo.set(pid, found ?? null);
    return found;
  };
  return (pid) => (tasks.length === 0 ? undefined : resolve(pid, 0));
}

function hostDelta(a: HostRaw, b: HostRaw): HostSample {
  const h: HostSample = {
    cpus: b.cpus,
    cpuTicks: b.cpuTicks.map((x, i) => nonNegative(x - (a.cpuTicks[i] ?? 0))),
    load: b.load,
    memKb: b.memKb,
    diskReadBytes: nonNegative(b.diskReadBytes - a.diskReadBytes),
    diskWriteBytes: nonNegative(b.diskWriteBytes - a.diskWriteBytes),
    netRxBytes: nonNegative(b.netRxBytes - a.netRxBytes),
    netTxBytes: nonNegative(b.netTxBytes - a.netTxBytes),
  };
  if (b.pressure) h.pressure = b.pressure;
  return h;
}

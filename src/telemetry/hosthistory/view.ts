/** A stored sample as the API shows it: percentages and rates, processes busiest first. */
import type { HostHistoryProcess, HostHistorySnapshot } from '../../model/index.ts';
import { splitJobId } from '../../model/index.ts';
import { TICKS_PER_SECOND, type Sample } from './sample.ts';

const round1 = (x: number): number => Math.round(x * 10) / 10;

export function snapshotView(
  hostId: string,
  s: Sample,
  neighbours: { prev?: number; next?: number },
): HostHistorySnapshot {
  const seconds = Math.max(s.intervalMs, 1) / 1000;
  const t = s.host.cpuTicks;
  const total = t.reduce((a, b) => a + b, 0) || 1;
  const pct = (x: number): number => round1((x / total) * 100);
  const tick = (i: number): number => t[i] ?? 0;
  const mem = (i: number): number => (s.host.memKb[i] ?? 0) * 1024;
  const processes: HostHistoryProcess[] = s.processes.map((p) => {
    const row: HostHistoryProcess = {
      pid: p.pid,
      ppid: p.ppid,
      state: p.state,
      command: p.command,
      cpuPercent: round1((p.cpuTicks / TICKS_PER_SECOND / seconds) * 100),
      rssBytes: p.rssKb * 1024,
      readBytesPerSec: Math.round(p.readBytes / seconds),
      writeBytesPerSec: Math.round(p.writeBytes / seconds),
    };
    if (p.task !== undefined) row.task = p.task;
    if (p.job !== undefined) {
      const { namespace, name } = splitJobId(p.job);
      row.job = name;
      row.namespace = namespace;
    }
    return row;
  });
  processes.sort(
    (a, b) =>
      b.cpuPercent - a.cpuPercent ||
      b.readBytesPerSec + b.writeBytesPerSec - (a.readBytesPerSec + a.writeBytesPerSec) ||
      b.rssBytes - a.rssBytes ||
      a.pid - b.pid,
  );
  const view: HostHistorySnapshot = {
    host: hostId,
    time: s.time,
    intervalMs: s.intervalMs,
    ...(neighbours.prev === undefined ? {} : { prev: neighbours.prev }),
    ...(neighbours.next === undefined ? {} : { next: neighbours.next }),
    cpu: {
      cpus: s.host.cpus,
      busyPercent: pct(total - tick(3) - tick(4)),
      userPercent: pct(tick(0) + tick(1)),
      systemPercent: pct(tick(2) + tick(5) + tick(6)),
      iowaitPercent: pct(tick(4)),
      stealPercent: pct(tick(7)),
    },
    load: s.host.load,
    memory: {
      totalBytes: mem(0),
      availableBytes: mem(1),
      usedBytes: mem(0) - mem(1),
      cachedBytes: mem(3),
      swapUsedBytes: mem(4) - mem(5),
    },
    disk: {
      readBytesPerSec: Math.round(s.host.diskReadBytes / seconds),
      writeBytesPerSec: Math.round(s.host.diskWriteBytes / seconds),
    },
    net: {
      rxBytesPerSec: Math.round(s.host.netRxBytes / seconds),
      txBytesPerSec: Math.round(s.host.netTxBytes / seconds),
    },
    processes,
  };
  if (s.host.pressure) {
    const [cpu, memory, io] = s.host.pressure;
    view.pressure = { cpu, memory, io };
  }
  return view;
}

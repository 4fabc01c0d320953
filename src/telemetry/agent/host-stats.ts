/**
 * The host's own figures, read from /proc: CPU time by mode, load, memory, disk and network I/O
 * counters, and pressure stall information (/proc/pressure/*, when the kernel has it). Each reader
 * returns [] when its file is missing or unreadable; none throws. Parsers take the file's text so
 * they can be tested on fixed input.
 */
import { readFile } from 'node:fs/promises';
import type { Sample } from './wire.ts';

/** USER_HZ: /proc/stat counts in 1/100 s on every Linux architecture Dabba runs on. */
const USER_HZ = 100;
/** /proc/diskstats counts 512-byte sectors whatever the device's block size. */
const SECTOR = 512;
/** Most devices or interfaces reported (a host with many tasks has a veth per task). */
export const MAX_DEVICES = 256;

const counter = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({
  name,
  labels,
  kind: 'counter',
  value,
});
const gauge = (name: string, value: number, labels: Record<string, string> = {}): Sample => ({
  name,
  labels,
  kind: 'gauge',
  value,
});

const CPU_MODES = ['user', 'nice', 'system', 'idle', 'iowait', 'irq', 'softirq', 'steal'] as const;

export function parseProcStat(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'cpu') {
      CPU_MODES.forEach((mode, i) => {
        const v = Number(f[i + 1]);
        if (Number.isFinite(v)) out.push(counter('host_cpu_seconds_total', v / USER_HZ, { mode }));
      });
    } else if (f[0] === 'ctxt' || f[0] === 'processes') {
      const v = Number(f[1]);
      if (Number.isFinite(v))
        out.push(counter(f[0] === 'ctxt' ? 'host_context_switches_total' : 'host_forks_total', v));
    } else if (f[0] === 'procs_running' || f[0] === 'procs_blocked') {
      const v = Number(f[1]);
      if (Number.isFinite(v)) out.push(gauge(`host_${f[0]}`, v));
    }
  }
  const cpus = text.split('\n').filter((l) => /^cpu\d+\s/.test(l)).length;
  if (cpus > 0) out.push(gauge('host_cpus', cpus));
  return out;
}

export function parseLoadavg(text: string): Sample[] {
  const f = text.trim().split(/\s+/).map(Number);
  const out: Sample[] = [];
  (['host_load1', 'host_load5', 'host_load15'] as const).forEach((n, i) => {
    const v = f[i];
    if (v !== undefined && Number.isFinite(v)) out.push(gauge(n, v));
  });
  return out;
}

const MEMINFO: Record<string, string> = {
  MemTotal: 'host_memory_total_bytes',
  MemFree: 'host_memory_free_bytes',
  MemAvailable: 'host_memory_available_bytes',
  Buffers: 'host_memory_buffers_bytes',
  Cached: 'host_memory_cached_bytes',
  Dirty: 'host_memory_dirty_bytes',
  SwapTotal: 'host_swap_total_bytes',
  SwapFree: 'host_swap_free_bytes',
};

export function parseMeminfo(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+)(?:\s+kB)?$/.exec(line.trim());
    const name = m ? MEMINFO[m[1] ?? ''] : undefined;
    if (m && name) out.push(gauge(name, Number(m[2]) * (line.includes('kB') ? 1024 : 1)));
  }
  return out;
}

/** Whole disks and partitions, not loop, ram or zram devices (they are not I/O to hardware). */
const SKIP_DISK = /^(loop|ram|zram|fd|sr)\d*/;

export function parseDiskstats(text: string): Sample[] {
  const out: Sample[] = [];
  let devices = 0;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const device = f[2];
    if (device === undefined || f.length < 14 || SKIP_DISK.test(device)) continue;
    if (++devices > MAX_DEVICES) break;
    const n = (i: number) => Number(f[i]);
    const labels = { device };
    out.push(
      counter('host_disk_reads_completed_total', n(3), labels),
      counter('host_disk_read_bytes_total', n(5) * SECTOR, labels),
      counter('host_disk_writes_completed_total', n(7), labels),
      counter('host_disk_written_bytes_total', n(9) * SECTOR, labels),
      gauge('host_disk_io_now', n(11), labels),
      counter('host_disk_io_time_seconds_total', n(12) / 1000, labels),
    );
  }
  return out.filter((s) => Number.isFinite(s.value));
}

export function parseNetDev(text: string): Sample[] {
  const out: Sample[] = [];
  let devices = 0;
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const device = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!device || f.length < 16) continue;
    if (++devices > MAX_DEVICES) break;
    const labels = { device };
    const at = (i: number) => f[i] ?? NaN;
    out.push(
      counter('host_network_receive_bytes_total', at(0), labels),
      counter('host_network_receive_packets_total', at(1), labels),
      counter('host_network_receive_errors_total', at(2), labels),
      counter('host_network_receive_drop_total', at(3), labels),
      counter('host_network_transmit_bytes_total', at(8), labels),
      counter('host_network_transmit_packets_total', at(9), labels),
      counter('host_network_transmit_errors_total', at(10), labels),
      counter('host_network_transmit_drop_total', at(11), labels),
    );
  }
  return out.filter((s) => Number.isFinite(s.value));
}

/** One /proc/pressure file: `some|full avg10=.. avg60=.. avg300=.. total=MICROSECONDS`. */
export function parsePressure(resource: string, text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s+avg10=([\d.]+)\s+avg60=([\d.]+)\s+avg300=([\d.]+)\s+total=(\d+)/.exec(
      line.trim(),
    );
    if (!m) continue;
    const labels = { resource, kind: m[1] ?? '' };
    out.push(
      counter('host_pressure_stalled_seconds_total', Number(m[5]) / 1e6, labels),
      gauge('host_pressure_avg10_ratio', Number(m[2]) / 100, labels),
    );
  }
  return out;
}

async function read(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Everything above, read now (`proc` is the /proc mount; tests may point it elsewhere). */
export async function readHostStats(proc = '/proc'): Promise<Sample[]> {
  const [stat, load, mem, disk, net, cpuP, memP, ioP] = await Promise.all([
    read(`${proc}/stat`),
    read(`${proc}/loadavg`),
    read(`${proc}/meminfo`),
    read(`${proc}/diskstats`),
    read(`${proc}/net/dev`),
    read(`${proc}/pressure/cpu`),
    read(`${proc}/pressure/memory`),
    read(`${proc}/pressure/io`),
  ]);
  return [
    ...(stat === undefined ? [] : parseProcStat(stat)),
    ...(load === undefined ? [] : parseLoadavg(load)),
    ...(mem === undefined ? [] : parseMeminfo(mem)),
    ...(disk === undefined ? [] : parseDiskstats(disk)),
    ...(net === undefined ? [] : parseNetDev(net)),
    ...(cpuP === undefined ? [] : parsePressure('cpu', cpuP)),
    ...(memP === undefined ? [] : parsePressure('memory', memP)),
    ...(ioP === undefined ? [] : parsePressure('io', ioP)),
  ];
}

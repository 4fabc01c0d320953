/**
 * A sample: the host and its processes over one interval, in the units the recorder stores (CPU
 * ticks, KiB, bytes). The sampler makes them from two readings of /proc; the block codec stores them;
 * the view turns one into the API's HostHistorySnapshot.
 */

/** Linux reports CPU time in /proc in units of USER_HZ, which is 100 on every architecture Dabba runs on. */
export const TICKS_PER_SECOND = 100;

export interface HostSample {
  cpus: number;
  /** Ticks over the interval: user, nice, system, idle, iowait, irq, softirq, steal (all cores). */
  cpuTicks: number[];
  load: [number, number, number];
  /** At the end of the interval: total, available, free, cached, swap total, swap free (KiB). */
  memKb: number[];
  /** Over the interval. */
  diskReadBytes: number;
  diskWriteBytes: number;
  netRxBytes: number;
  netTxBytes: number;
  pressure?: [number, number, number];
}

export interface ProcessSample {
  pid: number;
  ppid: number;
  state: string;
  command: string;
  /** Task id and job id (namespace:name outside `default`) when the process belongs to a task. */
  task?: string;
  job?: string;
  /** CPU ticks used over the interval. */
  cpuTicks: number;
  rssKb: number;
  /** Storage bytes read and written over the interval. */
  readBytes: number;
  writeBytes: number;
}

export interface Sample {
  /** End of the interval (epoch ms). */
  time: number;
  intervalMs: number;
  host: HostSample;
  processes: ProcessSample[];
}

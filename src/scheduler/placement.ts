/**
 * Placement for one reconcile pass: which host a new task goes to, or why none fits.
 *
 * This is the stand-in until the allocator (src/allocator) provides the real one: `reconcile` takes
 * any `PlacementStrategy` through `ReconcileInput.placement` and defaults to `spreadPlacement`.
 */
import type { HostCapacity, HostView, ResourceSpec } from '../model/index.ts';
import { formatSize } from '../lib/sizes.ts';

export type PlacementResult = { host: string } | { host: null; reason: string };

/** Places tasks one at a time, remembering what it placed (so capacity is never handed out twice). */
export interface Placer {
  place(resources: ResourceSpec): PlacementResult;
}

/**
 * Builds a placer for one pass. `hosts` are all known hosts (any state); `jobTasks` counts, per host
 * id, this job's tasks that stay on that host (desired 'run' after this pass's stops).
 */
export type PlacementStrategy = (hosts: readonly HostView[], jobTasks: ReadonlyMap<string, number>) => Placer;

/** How many hosts an unplaced reason lists one by one before summarising the rest. */
const LISTED_HOSTS = 5;
/** Slack for fractional CPU sums (0.1 + 0.2 must fit in 0.3). */
const CPU_EPSILON = 1e-9;

/**
 * Spread: among hosts in state 'ready' whose free capacity (capacity - allocated - placed by this
 * placer) fits the task's cpu, memory and pids, pick the one with the fewest tasks of this job, then
 * the most free memory, then the smallest id.
 */
export const spreadPlacement: PlacementStrategy = (hosts, jobTasks) => {
  const states = [...hosts]
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map((h) => ({
      host: h,
      free: {
        cpu: h.capacity.cpu - h.allocated.cpu,
        memoryBytes: h.capacity.memoryBytes - h.allocated.memoryBytes,
        pids: h.capacity.pids - h.allocated.pids,
      },
      jobTasks: jobTasks.get(h.id) ?? 0,
    }));
  return {
    place(need) {
      let best: (typeof states)[number] | undefined;
      for (const s of states) {
        if (s.host.state !== 'ready' || shortages(s.free, need).length > 0) continue;
        if (
          best === undefined ||
          s.jobTasks < best.jobTasks ||
          (s.jobTasks === best.jobTasks && s.free.memoryBytes > best.free.memoryBytes)
        ) {
          best = s;
        }
      }
      if (best === undefined) {
        return { host: null, reason: noFitReason(need, states) };
      }
      best.free.cpu -= need.cpu;
      best.free.memoryBytes -= need.memoryBytes;
      best.free.pids -= need.pids;
      best.jobTasks += 1;
      return { host: best.host.id };
    },
  };
};

type Dimension = 'cpu' | 'memory' | 'pids';

function shortages(free: HostCapacity, need: ResourceSpec): Dimension[] {
  const out: Dimension[] = [];
  if (free.cpu + CPU_EPSILON < need.cpu) out.push('cpu');
  if (free.memoryBytes < need.memoryBytes) out.push('memory');
  if (free.pids < need.pids) out.push('pids');
  return out;
}

/** "no host fits: needs cpu 4, memory 64Mi, pids 64; 1 host: h1 has 2 cpu free (too little cpu)" */
function noFitReason(need: ResourceSpec, states: readonly { host: HostView; free: HostCapacity }[]): string {
  const head = `no host fits: needs cpu ${formatCpu(need.cpu)}, memory ${formatSize(need.memoryBytes)}, pids ${need.pids}`;
  if (states.length === 0) return `${head}; no hosts registered`;
  const why = states.map((s) => ({ id: s.host.id, ...hostWhy(s.host, s.free, need) }));
  const listed = why.slice(0, LISTED_HOSTS).map((w) => `${w.id} ${w.text}`);
  let tail = '';
  if (why.length > LISTED_HOSTS) {
    const counts = new Map<string, number>();
    for (const w of why.slice(LISTED_HOSTS)) counts.set(w.summary, (counts.get(w.summary) ?? 0) + 1);
    const summary = [...counts.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    tail = `; and ${why.length - LISTED_HOSTS} more (${summary})`;
  }
  const n = states.length;
  return `${head}; ${n} host${n === 1 ? '' : 's'}: ${listed.join('; ')}${tail}`;
}

function hostWhy(host: HostView, free: HostCapacity, need: ResourceSpec): { text: string; summary: string } {
  if (host.state !== 'ready') return { text: `is ${host.state}`, summary: host.state };
  const short = shortages(free, need);
  const amounts = short.map((d) =>
    d === 'cpu'
      ? `${formatCpu(Math.max(0, free.cpu))} cpu`
      : d === 'memory'
        ? `${formatSize(Math.max(0, free.memoryBytes))} memory`
        : `${Math.max(0, free.pids)} pids`,
  );
  const summary = `too little ${short.join(', ')}`;
  return { text: `has ${amounts.join(', ')} free (${summary})`, summary };
}

function formatCpu(cpu: number): string {
  return String(Number(cpu.toFixed(3)));
}

/**
 * Placement for one reconcile pass: which host a new task goes to, or why none fits.
 *
 * `reconcile` takes any `PlacementStrategy` through `ReconcileInput.placement` and defaults to
 * `allocatorPlacement`, the allocator (src/allocator): filters (host state, constraints, resources,
 * spread `min`) and scorers (spread over attributes, fewest tasks of the job, least allocated), with
 * a structured explanation when no host fits. `spreadPlacement` is the earlier, resources-only
 * strategy, kept for comparison.
 */
import type { HostCapacity, HostView, PlacementSpec, PortSpec, ResourceSpec } from '../model/index.ts';
import { formatCpu, formatSize } from '../lib/sizes.ts';
import { Allocator, hashString, type Explanation, type Fleet } from '../allocator/index.ts';

/** Where a task goes, or why nowhere. `slot` and `freshVolumes`: see volumes.ts (jobs with volumes). */
export type PlacementResult =
  | { host: string; slot?: number; freshVolumes?: string }
  | { host: null; reason: string; explanation?: Explanation; slot?: number };

/** Per-task hints for a placer. */
export interface PlaceHints {
  /** Hosts this task must not go to (a task rescheduled off a host where it kept crashing). */
  avoidHosts?: readonly string[];
  /** The only host that may take the task: it holds the task's volumes (see volumes.ts). */
  volumeHost?: string;
  /** The task this one replaces (a move): a job with volumes gives it the same slot. */
  replaces?: string;
}

/** Places tasks one at a time, remembering what it placed (so capacity is never handed out twice). */
export interface Placer {
  /** `task` is the id of the task being placed, when known (explanations name it). Strategies must
   * honour `hints.avoidHosts`. */
  place(resources: ResourceSpec, task?: string, hints?: PlaceHints): PlacementResult;
}

/** The job whose tasks a placer places (its current version's placement rules). */
export interface PlacementJob {
  name: string;
  version: number;
  placement: PlacementSpec;
  ports: readonly PortSpec[];
}

/**
 * Builds a placer for one pass. `hosts` are all known hosts (any state); `jobTasks` counts, per host
 * id, this job's tasks that stay on that host (desired 'run' after this pass's stops).
 */
export type PlacementStrategy = (
  hosts: readonly HostView[],
  jobTasks: ReadonlyMap<string, number>,
  job?: PlacementJob,
  /** The same hosts already indexed (see `ReconcileInput.fleet`); strategies may ignore it. */
  fleet?: Fleet,
) => Placer;

/**
 * The allocator as a placement strategy. The seed comes from the job's name and version, so a pass
 * over the same state makes the same choices (and `dabba plan` predicts them). The `reason` of an
 * unplaced task is the explanation's one-line summary: it changes only when the state does.
 */
export const allocatorPlacement: PlacementStrategy = (hosts, jobTasks, job, fleet) => {
  const name = job?.name ?? '';
  const seed = hashString(`${name}@${job?.version ?? 0}`);
  // Made at the first placement: most passes place nothing, and an allocator copies the fleet's
  // free capacity (three arrays as long as the fleet) when it starts.
  let allocator: Allocator | undefined;
  const placement = job?.placement ?? { spread: [], constraints: [] };
  const ports = job?.ports ?? [];
  const existing = { perHost: jobTasks };
  let n = 0;
  return {
    place(resources, task, hints) {
      n++;
      const avoid = hints?.avoidHosts;
      const volumeHost = hints?.volumeHost;
      allocator ??= new Allocator({ hosts, seed, ...(fleet === undefined ? {} : { fleet }) });
      const r = allocator.place({
        job: name,
        task: task ?? `${name}#${n}`,
        resources,
        ports,
        placement,
        existing,
        ...(avoid === undefined || avoid.length === 0 ? {} : { avoidHosts: avoid }),
        ...(volumeHost === undefined ? {} : { volumeHost }),
      });
      if (r.host !== null) return { host: r.host };
      return { host: null, reason: r.explanation.summary, explanation: r.explanation };
    },
  };
};

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
    place(need, _task, hints) {
      const avoid = new Set(hints?.avoidHosts ?? []);
      const only = hints?.volumeHost;
      let best: (typeof states)[number] | undefined;
      for (const s of states) {
        if (s.host.state !== 'ready' || avoid.has(s.host.id) || shortages(s.free, need).length > 0) continue;
        if (only !== undefined && s.host.id !== only) continue;
        if (
          best === undefined ||
          s.jobTasks < best.jobTasks ||
          (s.jobTasks === best.jobTasks && s.free.memoryBytes > best.free.memoryBytes)
        ) {
          best = s;
        }
      }
      if (best === undefined) {
        const reason = noFitReason(need, states);
        const pinned = only === undefined ? '' : ` (only ${only}, which holds its volumes)`;
        return {
          host: null,
          reason:
            avoid.size > 0 ? `${reason} (avoiding ${[...avoid].join(', ')})${pinned}` : `${reason}${pinned}`,
        };
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

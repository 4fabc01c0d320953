/**
 * Preemption: services rank above batch work. When a service's tasks fit nowhere, this pure
 * decision picks batch tasks to stop so that they fit: for each task in need (in order), the host
 * where it would fit were every preemptible task there gone (the allocator decides, so the service's
 * constraints, spread and host states hold), then on that host the fewest victims in order of
 * lowest priority first, newest first, until it fits. A task that fits without preemption preempts
 * nothing. Victims stop gracefully (SIGTERM, the grace period) and their batch job runs them again
 * later. State in, decision out: no clock, no randomness (the allocator's seed is the job's name).
 */
import type { HostCapacity, HostView, ResourceSpec } from '../model/index.ts';
import { allocatorPlacement, type PlacementJob, type PlacementStrategy } from './placement.ts';

/** A batch task that may be preempted (desired 'run', on a host). */
export interface PreemptionCandidate {
  id: string;
  job: string;
  host: string;
  resources: ResourceSpec;
  /** Its batch job's priority: lower goes first. */
  priority: number;
  createdAt: number;
}

export interface PreemptionInput {
  /** The service job whose tasks need room. */
  job: PlacementJob;
  /** Its tasks that fit nowhere now, in the order they should be served. */
  needs: ReadonlyArray<{ id: string; resources: ResourceSpec }>;
  /** Every host, with `allocated` counting what is being freed already (earlier victims still
   * stopping) as free. */
  hosts: readonly HostView[];
  /** This job's tasks per host that stay (for its spread). */
  jobTasks?: ReadonlyMap<string, number>;
  candidates: readonly PreemptionCandidate[];
  placement?: PlacementStrategy;
}

export interface Preemption {
  /** The task in need, and the host it gets once its victims are gone. */
  task: string;
  host: string;
  victims: PreemptionCandidate[];
}

function minus(a: HostCapacity, b: ResourceSpec): HostCapacity {
  return { cpu: a.cpu - b.cpu, memoryBytes: a.memoryBytes - b.memoryBytes, pids: a.pids - b.pids };
}

function plus(a: HostCapacity, b: ResourceSpec): HostCapacity {
  return { cpu: a.cpu + b.cpu, memoryBytes: a.memoryBytes + b.memoryBytes, pids: a.pids + b.pids };
}

/** Whether `need` fits in what `host` has left (a tolerance for fractional CPUs). */
export function fitsOn(host: Pick<HostView, 'capacity' | 'allocated'>, need: ResourceSpec): boolean {
  const eps = 1e-9;
  return (
    host.allocated.cpu + need.cpu <= host.capacity.cpu + eps &&
    host.allocated.memoryBytes + need.memoryBytes <= host.capacity.memoryBytes &&
    host.allocated.pids + need.pids <= host.capacity.pids
  );
}

/** Lowest priority first; among equals the newest (least work lost), then by id. */
export function victimOrder(a: PreemptionCandidate, b: PreemptionCandidate): number {
  return a.priority - b.priority || b.createdAt - a.createdAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Which batch tasks to preempt for which of the service's tasks (none when nothing helps). */
export function planPreemption(input: PreemptionInput): Preemption[] {
  const strategy = input.placement ?? allocatorPlacement;
  const hosts = new Map(input.hosts.map((h) => [h.id, { ...h, allocated: { ...h.allocated } }]));
  const left = new Map<string, PreemptionCandidate[]>();
  for (const c of input.candidates) {
    if (!hosts.has(c.host)) continue;
    const list = left.get(c.host) ?? [];
    list.push(c);
    left.set(c.host, list);
  }
  for (const list of left.values()) list.sort(victimOrder);
  const jobTasks = new Map(input.jobTasks ?? []);
  const out: Preemption[] = [];
  for (const need of input.needs) {
    // Fits as things are (e.g. in room being freed): nothing to preempt for it.
    const asIs = strategy([...hosts.values()], jobTasks, input.job).place(need.resources, need.id);
    if (asIs.host !== null) {
      const h = hosts.get(asIs.host);
      if (h !== undefined) h.allocated = plus(h.allocated, need.resources);
      jobTasks.set(asIs.host, (jobTasks.get(asIs.host) ?? 0) + 1);
      continue;
    }
    // Where it would fit with every preemptible task gone.
    const relaxed = [...hosts.values()].map((h) => {
      let allocated = h.allocated;
      for (const c of left.get(h.id) ?? []) allocated = minus(allocated, c.resources);
      return { ...h, allocated };
    });
    const r = strategy(relaxed, jobTasks, input.job).place(need.resources, need.id);
    if (r.host === null) continue;
    const host = hosts.get(r.host);
    const pool = left.get(r.host) ?? [];
    if (host === undefined) continue;
    const victims: PreemptionCandidate[] = [];
    let allocated = host.allocated;
    while (!fitsOn({ capacity: host.capacity, allocated }, need.resources) && pool.length > 0) {
      const v = pool.shift();
      if (v === undefined) break;
      victims.push(v);
      allocated = minus(allocated, v.resources);
    }
    if (!fitsOn({ capacity: host.capacity, allocated }, need.resources)) {
      pool.unshift(...victims); // cannot happen when the allocator's fit agrees; keep them
      continue;
    }
    host.allocated = plus(allocated, need.resources);
    jobTasks.set(r.host, (jobTasks.get(r.host) ?? 0) + 1);
    out.push({ task: need.id, host: r.host, victims });
  }
  return out;
}

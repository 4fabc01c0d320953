/** Builders of hosts and asks for the allocator's tests (pure, no I/O). */
import type { Constraint, HostView, PlacementSpec, SpreadSpec } from '../model/index.ts';
import type { PlacementAsk } from './types.ts';

export const Mi = 1024 * 1024;
export const Gi = 1024 * Mi;

export function host(
  id: string,
  o: {
    cpu?: number;
    memoryBytes?: number;
    pids?: number;
    state?: HostView['state'];
    labels?: Record<string, string>;
    runtime?: string;
    allocated?: Partial<HostView['allocated']>;
  } = {},
): HostView {
  return {
    id,
    state: o.state ?? 'ready',
    labels: o.labels ?? {},
    capacity: { cpu: o.cpu ?? 8, memoryBytes: o.memoryBytes ?? 16 * Gi, pids: o.pids ?? 10_000 },
    allocated: { cpu: 0, memoryBytes: 0, pids: 0, ...o.allocated },
    runtime: o.runtime ?? 'process',
    registeredAt: 0,
    tasks: 0,
  };
}

export function placement(o: { spread?: SpreadSpec[]; constraints?: Constraint[] } = {}): PlacementSpec {
  return { spread: o.spread ?? [], constraints: o.constraints ?? [] };
}

/** `count` asks of one job sharing one resources and placement object (one equivalence class). */
export function asks(
  job: string,
  count: number,
  o: Partial<Omit<PlacementAsk, 'job' | 'task' | 'resources'>> & {
    cpu?: number;
    memoryBytes?: number;
    pids?: number;
  } = {},
): PlacementAsk[] {
  const { cpu, memoryBytes, pids, ...rest } = o;
  const resources = { cpu: cpu ?? 1, memoryBytes: memoryBytes ?? 64 * Mi, pids: pids ?? 10 };
  return Array.from({ length: count }, (_, i) => ({ job, task: `${job}-${i + 1}`, resources, ...rest }));
}

/** Task id -> host id, as a plain object (for deepEqual). */
export function byTask(placements: ReadonlyMap<string, string>): Record<string, string> {
  return Object.fromEntries(placements);
}

/** Host id -> number of tasks placed there. */
export function perHost(placements: ReadonlyMap<string, string>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const h of placements.values()) out[h] = (out[h] ?? 0) + 1;
  return out;
}

/**
 * resources-fit: the host's free cpu, memory and pids (capacity - allocated - what this allocation
 * already placed there) cover the task's reservation.
 */
import type { ResourceSpec, Shortfall } from '../../../model/index.ts';
import { CPU_EPSILON, type Fleet } from '../../fleet.ts';
import { cpus, formatCpu, memory } from '../../format.ts';
import type { FilterPlugin, Rejection } from '../../plugin.ts';

type Dimension = 'cpu' | 'memory' | 'pids';

export const resourcesFit: FilterPlugin = {
  name: 'resources-fit',
  stage: 'monotone',
  forClass({ ask, fleet }) {
    const need = ask.resources;
    return {
      test: (h) => fleet.fits(h, need),
      explain: (h) => rejection(fleet, h, need),
      suggest: (onlyThis) => suggest(fleet, onlyThis, need),
      commit: (h) => fleet.consume(h, need),
    };
  },
};

function free(fleet: Fleet, h: number): Record<Dimension, number> {
  return { cpu: fleet.freeCpu[h]!, memory: fleet.freeMemory[h]!, pids: fleet.freePids[h]! };
}

function wanted(need: ResourceSpec): Record<Dimension, number> {
  return { cpu: need.cpu, memory: need.memoryBytes, pids: need.pids };
}

function isShort(d: Dimension, have: number, want: number): boolean {
  return d === 'cpu' ? have + CPU_EPSILON < want : have < want;
}

const DIMENSIONS: readonly Dimension[] = ['cpu', 'memory', 'pids'];

function rejection(fleet: Fleet, h: number, need: ResourceSpec): Rejection {
  const have = free(fleet, h);
  const want = wanted(need);
  const short: Dimension[] = [];
  const shortfall: Shortfall = {};
  let distance = 0;
  for (const d of DIMENSIONS) {
    if (!isShort(d, have[d], want[d])) continue;
    short.push(d);
    const missing = want[d] - have[d];
    if (d === 'cpu') shortfall.cpu = Number(missing.toFixed(3));
    else if (d === 'memory') shortfall.memoryBytes = missing;
    else shortfall.pids = missing;
    distance += want[d] > 0 ? missing / want[d] : 1;
  }
  return { reason: `too little ${short.join(', ')}`, shortfall, distance };
}

/**
 * Per short dimension: "needs 4 CPUs; the largest free is 2 on host h3" (dimensions whose largest
 * free amount is on the same host share one sentence). When each dimension is free somewhere but
 * never all on one host: the nearest host and what it lacks.
 */
function suggest(fleet: Fleet, onlyThis: readonly number[], need: ResourceSpec): string[] {
  const want = wanted(need);
  const byHost = new Map<number, { d: Dimension; max: number }[]>();
  for (const d of DIMENSIONS) {
    let best = -1;
    for (const h of onlyThis) if (best < 0 || free(fleet, h)[d] > free(fleet, best)[d]) best = h;
    if (best < 0) continue;
    const max = Math.max(0, free(fleet, best)[d]);
    if (!isShort(d, max, want[d])) continue;
    const list = byHost.get(best) ?? [];
    list.push({ d, max });
    byHost.set(best, list);
  }
  const out: string[] = [];
  for (const [h, dims] of byHost) {
    const host = fleet.id(h);
    const [only] = dims;
    if (dims.length === 1 && only !== undefined) {
      const { d, max } = only;
      if (d === 'cpu')
        out.push(`needs ${cpus(want.cpu)}; the largest free is ${formatCpu(max)} on host ${host}`);
      else if (d === 'memory')
        out.push(`needs ${memory(want.memory)} memory; the largest free is ${memory(max)} on host ${host}`);
      else out.push(`needs ${want.pids} pids; the largest free is ${max} on host ${host}`);
      continue;
    }
    const amount = (d: Dimension, v: number): string =>
      d === 'cpu' ? cpus(v) : d === 'memory' ? `${memory(v)} memory` : `${v} pids`;
    const needs = and(dims.map(({ d }) => amount(d, want[d])));
    const largest = and(dims.map(({ d, max }) => amount(d, max)));
    out.push(`needs ${needs}; the largest free is ${largest} on host ${host}`);
  }
  if (out.length > 0) return out;
  let nearest = -1;
  let nearestDistance = Infinity;
  for (const h of onlyThis) {
    const r = rejection(fleet, h, need);
    if ((r.distance ?? 1) < nearestDistance) {
      nearest = h;
      nearestDistance = r.distance ?? 1;
    }
  }
  if (nearest < 0) return [];
  const r = rejection(fleet, nearest, need);
  const s = r.shortfall ?? {};
  const lacks = [
    s.cpu !== undefined ? cpus(s.cpu) : undefined,
    s.memoryBytes !== undefined ? `${memory(s.memoryBytes)} memory` : undefined,
    s.pids !== undefined ? `${s.pids} pids` : undefined,
  ].filter((x) => x !== undefined);
  return [
    `no host has cpu ${formatCpu(want.cpu)}, memory ${memory(want.memory)} and pids ${want.pids} free at once; the nearest is ${fleet.id(nearest)}, short ${lacks.join(', ')}`,
  ];
}

/** "a", "a and b", "a, b and c" */
function and(items: readonly string[]): string {
  return items.length <= 1
    ? items.join('')
    : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * Allocator benchmark: `node bench/allocator-bench.ts` (about half a minute).
 *
 * Places a batch of tasks, in jobs of varied sizes (1 to 5,000 tasks), resources, constraints
 * (zone in, disk equals, host.runtime, rack regex, zone not), spread rules (zone with min 2, rack)
 * and distinct hosts, on a fleet with zones, racks, disk classes, mixed host sizes, some hosts not
 * ready and some capacity already allocated. Two jobs fit nowhere (their explanations are part of
 * the work); the largest scenario takes the fleet from 15% to about 78% of its CPU. Times
 * `allocate()` alone (the request is built beforehand): CPU time of the process (steadier than wall
 * time when the machine is shared; both are printed), median of REPEATS runs after one warm-up.
 *
 * Scenarios: 100,000 tasks on 10,000 hosts and 10,000 tasks on 1,000 hosts, with the default
 * sampling (32 feasible hosts scored per task); as a baseline alongside, exhaustive scoring
 * (sampleSize Infinity: every feasible host scored for every task) on the smaller scenario and on
 * 10,000 tasks of the large one. Next to the figures: published anchors (not run here).
 */
import { cpus } from 'node:os';
import { allocate, type AllocateResult, type PlacementAsk } from '../src/allocator/index.ts';
import { seededRng, type Rng } from '../src/allocator/rng.ts';
import type { Constraint, HostView, SpreadSpec } from '../src/model/index.ts';
import { table } from './report.ts';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;
const REPEATS = 3;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

function fleet(n: number, rng: Rng): HostView[] {
  const racksPerZone = Math.max(1, Math.round(n / 40 / 5));
  return Array.from({ length: n }, (_, i) => {
    const size = pick(rng, [1, 2, 4]);
    const zone = `z${i % 5}`;
    const used = rng() * 0.3;
    const roll = rng();
    const state = roll < 0.97 ? 'ready' : roll < 0.98 ? 'cordoned' : roll < 0.99 ? 'draining' : 'down';
    const capacity = { cpu: 16 * size, memoryBytes: 64 * Gi * size, pids: 32_768 };
    return {
      id: `host-${String(i).padStart(5, '0')}`,
      state,
      labels: {
        zone,
        rack: `${zone}-r${Math.floor(rng() * racksPerZone)}`,
        disk: rng() < 0.3 ? 'ssd' : 'hdd',
      },
      capacity,
      allocated: {
        cpu: Math.round(capacity.cpu * used),
        memoryBytes: Math.round(capacity.memoryBytes * used),
        pids: Math.round(capacity.pids * used),
      },
      runtime: rng() < 0.8 ? 'oci' : 'process',
      registeredAt: 0,
      tasks: 0,
    } satisfies HostView;
  });
}

const SIZES = [1, 1, 1, 2, 2, 3, 5, 5, 8, 10, 10, 20, 50, 100, 200, 500, 1000, 5000];

function jobs(total: number, rng: Rng): PlacementAsk[] {
  const tasks: PlacementAsk[] = [];
  let j = 0;
  const add = (count: number, o: Omit<PlacementAsk, 'job' | 'task'>): void => {
    const job = `job-${j++}`;
    for (let t = 0; t < count; t++) tasks.push({ job, task: `${job}-${t}`, ...o });
  };
  // Two jobs that fit nowhere: their tasks are explained.
  add(5, { resources: { cpu: 128, memoryBytes: Gi, pids: 256 } });
  add(5, {
    resources: { cpu: 1, memoryBytes: Gi, pids: 256 },
    placement: { spread: [], constraints: [{ attribute: 'zone', equals: 'z9' }] },
  });
  while (tasks.length < total) {
    const count = Math.min(pick(rng, SIZES), total - tasks.length);
    const c = rng();
    const constraints: Constraint[] =
      c < 0.4
        ? []
        : c < 0.6
          ? [{ attribute: 'zone', in: ['z0', 'z1'] }]
          : c < 0.7
            ? [{ attribute: 'disk', equals: 'ssd' }]
            : c < 0.8
              ? [{ attribute: 'host.runtime', equals: 'oci' }]
              : c < 0.9
                ? [{ attribute: 'rack', regex: 'r[0-4]$' }]
                : [{ attribute: 'zone', not: 'z4' }];
    const s = rng();
    const spread: SpreadSpec[] =
      s < 0.5 ? [{ attribute: 'zone', min: 2 }] : s < 0.7 ? [{ attribute: 'rack' }] : [];
    const resources = {
      cpu: pick(rng, [0.25, 0.5, 1, 2, 4, 4]),
      memoryBytes: pick(rng, [64 * Mi, 256 * Mi, 512 * Mi, Gi, 2 * Gi, 4 * Gi]),
      pids: 256,
    };
    add(count, { resources, placement: { spread, constraints }, distinctHosts: count <= 500 && rng() < 0.1 });
  }
  return tasks;
}

interface Run {
  /** Wall time. */
  ms: number;
  /** CPU time of the process (user + system) over the same span: steadier on a busy machine. */
  cpuMs: number;
  result: AllocateResult;
}

function time(hosts: HostView[], tasks: PlacementAsk[], sampleSize: number): Run {
  const options = { sampleSize };
  allocate({ hosts, tasks, seed: 1, options }); // warm-up
  const runs: Run[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const result = allocate({ hosts, tasks, seed: 1 + i, options });
    const ms = performance.now() - t0;
    const c = process.cpuUsage(c0);
    runs.push({ ms, cpuMs: (c.user + c.system) / 1000, result });
  }
  runs.sort((a, b) => a.cpuMs - b.cpuMs);
  return runs[Math.floor(REPEATS / 2)]!;
}

/** Checks and quality figures of one result. */
function quality(hosts: HostView[], tasks: PlacementAsk[], r: AllocateResult) {
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const used = new Map(hosts.map((h) => [h.id, h.allocated.cpu]));
  const zones = new Map<string, Map<string, number>>();
  for (const t of tasks) {
    const id = r.placements.get(t.task);
    if (id === undefined) continue;
    used.set(id, used.get(id)! + t.resources.cpu);
    if (t.placement?.spread[0]?.attribute === 'zone') {
      const m = zones.get(t.job) ?? new Map<string, number>();
      const z = byId.get(id)!.labels['zone']!;
      m.set(z, (m.get(z) ?? 0) + 1);
      zones.set(t.job, m);
    }
  }
  let over = 0;
  for (const h of hosts) if (used.get(h.id)! > h.capacity.cpu + 1e-6) over++;
  let evenJobs = 0;
  let minBroken = 0;
  for (const [job, m] of zones) {
    const placed = [...m.values()].reduce((a, b) => a + b, 0);
    if (m.size < Math.min(2, placed)) minBroken++;
    const allowed = tasks.find((t) => t.job === job)?.placement?.constraints[0];
    const domains = allowed && 'in' in allowed ? allowed.in.length : allowed && 'not' in allowed ? 4 : 5;
    const counts = [...m.values(), ...Array<number>(Math.max(0, domains - m.size)).fill(0)];
    if (Math.max(...counts) - Math.min(...counts) <= 1) evenJobs++;
  }
  const cap = hosts.reduce((a, h) => a + h.capacity.cpu, 0);
  const before = hosts.reduce((a, h) => a + h.allocated.cpu, 0);
  const after = [...used.values()].reduce((a, b) => a + b, 0);
  return {
    placed: r.placements.size,
    unplaced: r.failures.size,
    over,
    minBroken,
    even: `${evenJobs}/${zones.size}`,
    cpuUse: `${Math.round((before / cap) * 100)}% -> ${Math.round((after / cap) * 100)}%`,
  };
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

console.log(`Allocator benchmark: node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
const big = { hosts: fleet(10_000, seededRng(1)), tasks: jobs(100_000, seededRng(2)) };
const small = { hosts: fleet(1_000, seededRng(3)), tasks: jobs(10_000, seededRng(4)) };
const bigSlice = big.tasks.slice(0, 10_000);

const cases: [string, HostView[], PlacementAsk[], number][] = [
  ['100,000 tasks, 10,000 hosts, sampled (default 32)', big.hosts, big.tasks, 32],
  ['10,000 tasks, 1,000 hosts, sampled (default 32)', small.hosts, small.tasks, 32],
  ['baseline: 10,000 tasks, 1,000 hosts, exhaustive', small.hosts, small.tasks, Infinity],
  ['baseline: first 10,000 tasks, 10,000 hosts, exhaustive', big.hosts, bigSlice, Infinity],
  ['first 10,000 tasks, 10,000 hosts, sampled (default 32)', big.hosts, bigSlice, 32],
];
const rows: (string | number)[][] = [];
const qrows: (string | number)[][] = [];
const rates = new Map<string, number>();
for (const [name, hosts, tasks, sample] of cases) {
  const run = time(hosts, tasks, sample);
  const rate = (run.result.placements.size / run.cpuMs) * 1000;
  rates.set(name, rate);
  rows.push([
    name,
    `${fmt(run.cpuMs)} ms`,
    `${fmt(run.ms)} ms`,
    fmt((tasks.length / run.cpuMs) * 1000),
    fmt(rate),
  ]);
  const q = quality(hosts, tasks, run.result);
  qrows.push([name, fmt(q.placed), fmt(q.unplaced), q.over, q.minBroken, q.even, q.cpuUse]);
}
table(
  'Allocator time (median of 3 by CPU time, after a warm-up; rates per CPU second; tasks/s counts placed and explained tasks)',
  ['case', 'cpu', 'wall', 'tasks/s', 'placements/s'],
  rows,
);
table(
  'Checks and quality',
  ['case', 'placed', 'unplaced', 'hosts over cpu', 'zone min broken', 'zone-spread jobs even', 'fleet cpu'],
  qrows,
);
const main = rates.get(cases[0]![0])!;
table(
  'Against published anchors (their figures, not run here)',
  ['system', 'placements/s', 'this run / anchor'],
  [
    ['Kubernetes scheduler, 5,000 nodes', 100, `${fmt(main / 100)}x`],
    ['Nomad C1M (1M containers, 5,000 hosts)', fmt(3750), `${fmt(main / 3750)}x`],
    ['dabba allocator, 10,000 hosts (this run)', fmt(main), '1x'],
  ],
);
const a = rates.get(cases[2]![0])!;
const b = rates.get(cases[1]![0])!;
const c = rates.get(cases[3]![0])!;
const d = rates.get(cases[4]![0])!;
console.log(
  `\nsampling vs exhaustive: ${(b / a).toFixed(1)}x at 1,000 hosts, ${(d / c).toFixed(1)}x at 10,000 hosts`,
);

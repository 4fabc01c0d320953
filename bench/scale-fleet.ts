/**
 * The fleet and the jobs bench/scale.ts places: hosts in 5 zones with racks, disks and three sizes;
 * jobs of 1 to 1,000 replicas with varied resources, constraints and spread, all of which fit.
 */
import type { Rng } from '../src/allocator/rng.ts';
import type { Constraint, JobSpec, SpreadSpec } from '../src/model/index.ts';
import { validateJob } from '../src/model/files.ts';

const Gi = 1024 ** 3;

const pick = <T>(rng: Rng, items: readonly T[]): T => items[Math.floor(rng() * items.length)]!;

export interface SimHost {
  id: string;
  labels: Record<string, string>;
  capacity: { cpu: number; memoryBytes: number; pids: number };
}

export function fleet(n: number, rng: Rng): SimHost[] {
  const racksPerZone = Math.max(1, Math.round(n / 40 / 5));
  return Array.from({ length: n }, (_, i) => {
    const size = pick(rng, [1, 2, 4]);
    const zone = `z${i % 5}`;
    return {
      id: `sim-${String(i).padStart(5, '0')}`,
      labels: {
        zone,
        rack: `${zone}-r${Math.floor(rng() * racksPerZone)}`,
        disk: rng() < 0.3 ? 'ssd' : 'hdd',
      },
      capacity: { cpu: 16 * size, memoryBytes: 64 * Gi * size, pids: 32_768 },
    };
  });
}

const SIZES = [1, 1, 2, 3, 5, 8, 10, 20, 50, 100, 200, 500, 1000];

/** Jobs of varied sizes whose replicas add up to `total`; every one fits on the fleet. */
export function jobs(total: number, rng: Rng): JobSpec[] {
  const out: JobSpec[] = [];
  let placed = 0;
  while (placed < total) {
    const replicas = Math.min(pick(rng, SIZES), total - placed);
    placed += replicas;
    const c = rng();
    const constraints: Constraint[] =
      c < 0.5
        ? []
        : c < 0.7
          ? [{ attribute: 'zone', in: ['z0', 'z1', 'z2'] }]
          : c < 0.8
            ? [{ attribute: 'zone', not: 'z4' }]
            : c < 0.9
              ? [{ attribute: 'rack', regex: 'r[0-9]*[02468]$' }]
              : [{ attribute: 'disk', equals: 'ssd' }];
    const s = rng();
    const spread: SpreadSpec[] =
      s < 0.4 ? [{ attribute: 'zone', min: 2 }] : s < 0.6 ? [{ attribute: 'rack' }] : [];
    const v = validateJob({
      name: `job-${out.length}`,
      replicas,
      task: {
        command: ['serve'],
        resources: {
          cpu: pick(rng, [0.1, 0.25, 0.5, 1, 2]),
          memory: pick(rng, ['64Mi', '256Mi', '512Mi', '1Gi']),
        },
      },
      placement: { spread, constraints },
    });
    if (!v.ok) throw new Error(JSON.stringify(v.issues));
    out.push(v.spec);
  }
  return out;
}

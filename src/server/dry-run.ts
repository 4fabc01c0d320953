/**
 * The end state a job spec would reach from the current state, computed with the real allocator and
 * nothing written: which tasks stay, which are replaced, stopped or added and where, and why any
 * cannot be placed. Pure: state in, plan out.
 */
import { allocate, formatExplanation, hashString, type PlacementAsk } from '../allocator/index.ts';
import type { HostView, JobPlanView, JobRecord, JobSpec, PlanFailure, TaskView } from '../model/index.ts';
import { sameSpec } from '../scheduler/index.ts';

export interface DryRunInput {
  spec: JobSpec;
  current: JobRecord | undefined;
  /** The job's tasks, with status. */
  tasks: TaskView[];
  /** Every host, with `allocated` counting every task (this job's included). */
  hosts: HostView[];
}

const rank = (t: TaskView): number =>
  t.status?.state === 'running' ? (t.status.healthy ? 0 : 1) : t.status?.state === 'starting' ? 2 : 3;

export function dryRun(input: DryRunInput): JobPlanView {
  const { spec, current } = input;
  const changed = !(current && current.status === 'active' && sameSpec(current.spec, spec));
  const live = current?.status === 'active' ? input.tasks.filter((t) => t.desired === 'run') : [];
  const same = live
    .filter((t) => sameSpec(t.spec, spec.task))
    .sort((a, b) => rank(a) - rank(b) || a.id.localeCompare(b.id));
  const keep = same.slice(0, spec.replicas);
  const surplus = same.slice(spec.replicas);
  const replace = live.filter((t) => !sameSpec(t.spec, spec.task));
  const leaving = [...surplus, ...replace];

  // The fleet as it will be once replaced and surplus tasks are gone.
  const freed = new Map<string, { cpu: number; memoryBytes: number; pids: number }>();
  for (const t of leaving) {
    if (t.host === null) continue;
    const f = freed.get(t.host) ?? { cpu: 0, memoryBytes: 0, pids: 0 };
    f.cpu += t.spec.resources.cpu;
    f.memoryBytes += t.spec.resources.memoryBytes;
    f.pids += t.spec.resources.pids;
    freed.set(t.host, f);
  }
  const hosts = input.hosts.map((h) => {
    const f = freed.get(h.id);
    if (!f) return h;
    return {
      ...h,
      allocated: {
        cpu: Math.max(0, h.allocated.cpu - f.cpu),
        memoryBytes: Math.max(0, h.allocated.memoryBytes - f.memoryBytes),
        pids: Math.max(0, h.allocated.pids - f.pids),
      },
    };
  });
  const perHostKept = new Map<string, number>();
  for (const t of keep) if (t.host !== null) perHostKept.set(t.host, (perHostKept.get(t.host) ?? 0) + 1);

  const need = Math.max(0, spec.replicas - keep.length);
  const asks: PlacementAsk[] = Array.from({ length: need }, (_, i) => ({
    job: spec.name,
    task: `new-${i}`,
    resources: spec.task.resources,
    ports: spec.task.ports,
    placement: spec.placement,
    existing: { perHost: perHostKept },
  }));
  const nextVersion = changed ? (current?.version ?? 0) + 1 : (current?.version ?? 1);
  const result = allocate({ tasks: asks, hosts, seed: hashString(`${spec.name}@${nextVersion}`) });

  const addCounts = new Map<string | null, number>();
  for (const a of asks) {
    const host = result.placements.get(a.task) ?? null;
    addCounts.set(host, (addCounts.get(host) ?? 0) + 1);
  }
  const failures = new Map<string, PlanFailure>();
  for (const e of result.failures.values()) {
    const f = failures.get(e.summary);
    if (f) f.count++;
    else
      failures.set(e.summary, { count: 1, summary: e.summary, detail: formatExplanation(e), explanation: e });
  }

  const before = new Map<string, number>();
  for (const t of live) if (t.host !== null) before.set(t.host, (before.get(t.host) ?? 0) + 1);
  const after = new Map(perHostKept);
  for (const [host, n] of addCounts) if (host !== null) after.set(host, (after.get(host) ?? 0) + n);
  const hostIds = [...new Set([...before.keys(), ...after.keys()])].sort();

  const ref = (t: TaskView): { task: string; host: string | null } => ({ task: t.id, host: t.host });
  return {
    job: spec.name,
    currentVersion: current?.version ?? null,
    nextVersion,
    changed,
    replicas: spec.replicas,
    keep: keep.map(ref),
    add: [...addCounts]
      .map(([host, count]) => ({ host, count }))
      .sort((a, b) => (a.host ?? '~').localeCompare(b.host ?? '~')),
    replace: replace.map(ref),
    stop: surplus.map(ref),
    perHost: hostIds.map((host) => ({ host, before: before.get(host) ?? 0, after: after.get(host) ?? 0 })),
    failures: [...failures.values()],
  };
}

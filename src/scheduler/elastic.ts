/**
 * Elastic compute, pure: a service's replicas by its daily schedule (within minReplicas and
 * maxReplicas), the pool each host counts in (its own, or the pool it is loaned to), and which
 * hosts to loan from the online pool to batch work or to recall (docs/elastic.md). Clock in, as
 * `now`: no I/O, no randomness.
 */
import type { HostView, PoolLoan, ScalingSpec } from '../model/index.ts';

const DAY_MS = 24 * 60 * 60 * 1000;
const MINUTE_MS = 60 * 1000;

/** The pool of hosts without a `pool` label. */
export const DEFAULT_POOL = 'online';
/** Where freed online hosts are loaned. */
export const BATCH_POOL = 'batch';
/** How long a recall may take by default (`recallWithin`). */
export const DEFAULT_RECALL_WITHIN_MS = 60_000;

/** The schedule entry in force at `now` (the last one at or before its time of day, wrapping). */
function entryAt(scaling: ScalingSpec, now: number): { at: number; replicas: number } | undefined {
  const minute = Math.floor((((now % DAY_MS) + DAY_MS) % DAY_MS) / MINUTE_MS);
  let found: { at: number; replicas: number } | undefined;
  for (const e of scaling.schedule) if (e.at <= minute) found = e;
  return found ?? scaling.schedule.at(-1);
}

/** The replicas a job runs at `now`: its schedule's (or `replicas`), within the bounds. */
export function scheduledReplicas(replicas: number, scaling: ScalingSpec | undefined, now: number): number {
  if (scaling === undefined) return replicas;
  const want = entryAt(scaling, now)?.replicas ?? replicas;
  return Math.min(scaling.maxReplicas, Math.max(scaling.minReplicas, want));
}

/** When the schedule next changes entry after `now` (undefined without one). */
export function nextScheduleChange(scaling: ScalingSpec | undefined, now: number): number | undefined {
  if (scaling === undefined || scaling.schedule.length === 0) return undefined;
  const dayStart = now - (((now % DAY_MS) + DAY_MS) % DAY_MS);
  let best: number | undefined;
  for (const e of scaling.schedule) {
    for (const day of [0, 1]) {
      const t = dayStart + day * DAY_MS + e.at * MINUTE_MS;
      if (t > now && (best === undefined || t < best)) best = t;
    }
  }
  return best;
}

/** A host loaned out of its pool (the record under /loans/HOST). */
export type Loan = PoolLoan;

/** A host's own pool: its `pool` label, else online. */
export function ownPool(host: Pick<HostView, 'labels'>): string {
  return host.labels['pool'] ?? DEFAULT_POOL;
}

/** The pool a host places new tasks for: the holder of an active loan, else its own (a recalled host is back). */
export function effectivePool(host: Pick<HostView, 'labels'>, loan: Loan | undefined): string {
  return loan !== undefined && loan.recall === undefined ? loan.holder : ownPool(host);
}

/** What the loan planner reads about one host. */
export interface LoanHost {
  id: string;
  labels: Record<string, string>;
  state: HostView['state'];
  /** Tasks on the host of jobs that are not batch jobs, and of batch jobs. */
  serviceTasks: number;
  batchTasks: number;
}

export interface LoanInput {
  hosts: readonly LoanHost[];
  loans: readonly Loan[];
  /** Tasks of online-pool services (or services without a pool) waiting for a host. */
  onlineWaiting: number;
  /** Tasks of batch-pool jobs waiting for a host: hosts are loaned only while there are some. */
  batchWaiting: number;
  now: number;
  recallWithinMs?: number;
}

export interface LoanPlan {
  lend: Loan[];
  /** Loans to recall (with `recall` set). */
  recall: Loan[];
  /** Hosts whose recalled loan is over (no batch task left, or the host is gone): back in online. */
  end: string[];
}

/**
 * Online hosts with nothing on them are loaned to the batch pool while batch-pool tasks wait for a
 * host and no online task does; when
 * online tasks wait, loaned hosts are recalled, one per waiting task, fewest batch tasks first
 * (least work lost), then oldest loan. A recalled host is back once its batch tasks are gone.
 */
export function planLoans(input: LoanInput): LoanPlan {
  const within = input.recallWithinMs ?? DEFAULT_RECALL_WITHIN_MS;
  const byHost = new Map(input.hosts.map((h) => [h.id, h]));
  const loaned = new Map(input.loans.map((l) => [l.host, l]));
  const out: LoanPlan = { lend: [], recall: [], end: [] };
  for (const l of input.loans) {
    const h = byHost.get(l.host);
    if (h === undefined || (l.recall !== undefined && (h.batchTasks === 0 || h.state === 'down')))
      out.end.push(l.host);
  }
  const active = input.loans.filter((l) => l.recall === undefined && byHost.has(l.host));
  const recalling = input.loans.filter((l) => l.recall !== undefined).length;
  if (input.onlineWaiting > recalling) {
    const order = [...active].sort(
      (a, b) =>
        (byHost.get(a.host)?.batchTasks ?? 0) - (byHost.get(b.host)?.batchTasks ?? 0) ||
        a.start - b.start ||
        (a.host < b.host ? -1 : 1),
    );
    for (const l of order.slice(0, input.onlineWaiting - recalling)) {
      out.recall.push({
        ...l,
        recall: {
          at: input.now,
          deadline: input.now + within,
          reason: `${input.onlineWaiting} online task${input.onlineWaiting === 1 ? '' : 's'} waiting for a host`,
        },
      });
    }
    return out;
  }
  if (input.onlineWaiting > 0 || input.batchWaiting === 0) return out;
  for (const h of input.hosts) {
    if (loaned.has(h.id) || ownPool(h) !== DEFAULT_POOL || h.state !== 'ready') continue;
    if (h.serviceTasks + h.batchTasks > 0) continue;
    out.lend.push({ host: h.id, from: DEFAULT_POOL, holder: BATCH_POOL, start: input.now });
  }
  return out;
}

/**
 * The hosts as a job of pool `pool` must see them: hosts of other pools are cordoned for it (their
 * tasks stay, nothing new goes there). Undefined when the job has no pool.
 */
export function hostsForPool(
  hosts: readonly HostView[],
  pool: string | undefined,
  loans: ReadonlyMap<string, Loan>,
): HostView[] | undefined {
  if (pool === undefined) return undefined;
  return hosts.map((h) =>
    h.state === 'ready' && effectivePool(h, loans.get(h.id)) !== pool ? { ...h, state: 'cordoned' } : h,
  );
}

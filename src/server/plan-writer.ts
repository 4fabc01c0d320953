/**
 * Writing a scheduler plan (a `ReconcilePlan` decided by the loop, scheduler-loop.ts) to the store:
 * task records and their assignments, deployments, volumes, a rollback and the plan's events, in
 * transactions that fit the store's limit, each fenced by the job's record, the shard's owner and
 * (unless the replica owns every shard) the placement keys of the hosts it fills.
 */
import type { Clock, Logger } from '../lib/index.ts';
import type { JobRecord, JobVersionRecord, Task } from '../model/index.ts';
import { encodeTaskRecord, keys } from '../model/index.ts';
import { sameSpec, type ReconcilePlan } from '../scheduler/index.ts';
import type { Compare, Store, TxnOp } from '../store/index.ts';
import type { JobFence } from './scheduler-fence.ts';
import { haKeys } from './shards/keys.ts';
import type { StateCache } from './state-cache.ts';
import type { EventLog } from './state/events.ts';

/** Room left in a plan transaction for the fence's compares and the job's own compare. */
export const TXN_HEADROOM = 8;
/** Events written with one plan (a 100-task deploy says so in a few lines, not a hundred). */
const MAX_EVENTS_PER_PLAN = 10;

/** A task record a plan writes, with the object its JSON encodes (see `StateCache.expect`). */
interface Decoded {
  key: string;
  value: string;
  object: Task;
}

export function hostsOf(plan: ReconcilePlan): string[] {
  return [...new Set(plan.create.flatMap((t) => (t.host === null ? [] : [t.host])))];
}

/** What the writer shares with the loop (the same objects: the loop reads what the writer sets). */
export interface PlanWriterDeps {
  store: Store;
  cache: StateCache;
  clock: Clock;
  logger: Logger;
  events: EventLog;
  metrics?: { planWritten(seconds: number, revision: number, at: number): void } | undefined;
  replicaId?: string | undefined;
  /** Jobs to decide again. */
  dirty: Set<string>;
  /** Job -> store revision of our last write for it: do not decide again before seeing it. */
  pending: Map<string, number>;
  /** Host -> store revision of our last placement there: plan for it only from a cache that saw it. */
  placedAt: Map<string, number>;
}

export class PlanWriter {
  readonly #d: PlanWriterDeps;

  constructor(deps: PlanWriterDeps) {
    this.#d = deps;
  }

  /** Writes the plan in parts; returns how many of its creates were written (a prefix). */
  async write(
    name: string,
    jobMod: number,
    job: JobRecord,
    plan: ReconcilePlan,
    versions: JobVersionRecord[],
    fence: JobFence,
    exclusive: JobFence | undefined,
    written: { ops: number },
    signal?: AbortSignal,
  ): Promise<number> {
    const writeFence = exclusive ?? fence;
    // What the plan was decided from: later parts compare with this, not with a cache that moved on
    // while earlier parts were written.
    const planRevision = this.#d.cache.revision;
    let created = 0;
    const seenPlacements = new Map(hostsOf(plan).map((h) => [h, this.#d.cache.placements.get(h) ?? 0]));
    let rest = plan;
    let first = true;
    /** Placement-key mod revisions written by earlier parts of this plan. */
    const placedHere = new Map<string, number>();
    for (;;) {
      const {
        part,
        ops,
        placed: hosts,
        decoded,
      } = this.#firstPart(job, rest, versions, writeFence, exclusive !== undefined);
      if (ops.length === 0) return created;
      const placed = exclusive === undefined ? hosts : [];
      if (
        exclusive === undefined &&
        hosts.some((h) => !placedHere.has(h) && (this.#d.placedAt.get(h) ?? 0) > planRevision)
      ) {
        // Our own last placement on one of these hosts is not in the cache yet: wait for it.
        this.#d.dirty.add(name);
        return created;
      }
      const compare: Compare[] = [
        // The plan was made from this version of the job record...
        { key: keys.job(name), target: 'mod', op: '=', modRevision: jobMod },
        // ...by the owner of the job's shard (or of every shard)...
        ...writeFence.compares,
        // ...from these placements on its hosts.
        ...placed.map((h): Compare => ({
          key: haKeys.placement(h),
          target: 'mod',
          op: '=',
          modRevision: placedHere.get(h) ?? seenPlacements.get(h) ?? 0,
        })),
      ];
      const marker = JSON.stringify({ job: name, replica: this.#d.replicaId ?? '' });
      for (const h of placed) ops.push({ type: 'put', key: haKeys.placement(h), value: marker });
      if (first) written.ops = ops.length;
      // Not decided again before this write is seen (or has failed).
      this.#d.pending.set(name, Number.POSITIVE_INFINITY);
      this.#d.cache.expect(decoded);
      const writeAt = performance.now();
      // Bulk: a deploy or a heartbeat is committed before it, not behind thousands of task records.
      const r = await this.#d.store.txn({ compare, success: ops }, { bulk: true }).catch((e: unknown) => {
        this.#d.pending.delete(name);
        this.#d.cache.unexpect(decoded.map((d) => d.key));
        throw e;
      });
      if (!r.succeeded) {
        this.#d.pending.delete(name);
        this.#d.cache.unexpect(decoded.map((d) => d.key));
        this.#d.dirty.add(name);
        return created;
      }
      created += part.create.length;
      this.#d.metrics?.planWritten((performance.now() - writeAt) / 1000, r.revision, performance.now());
      this.#d.pending.set(name, r.revision);
      for (const h of hosts) {
        this.#d.placedAt.set(h, r.revision);
        placedHere.set(h, r.revision);
      }
      this.#d.logger.debug(
        { job: name, revision: r.revision, shard: writeFence.shard, lease: writeFence.lease },
        'plan written',
      );
      if (first) for (const ev of part.events) this.#d.logger.info({ job: name, kind: ev.kind }, ev.message);
      rest = {
        ...rest,
        create: rest.create.slice(part.create.length),
        stop: rest.stop.slice(part.stop.length),
        remove: rest.remove.slice(part.remove.length),
        // Records, events and a rollback go with the first part only.
        deployment: undefined,
        supersede: [],
        volumes: [],
        events: [],
      };
      delete rest.rollbackTo;
      const more = rest.create.length + rest.stop.length + rest.remove.length > 0;
      if (!more) return created;
      if (first && plan.rollbackTo !== undefined) {
        // The job record changed: decide again from it.
        this.#d.dirty.add(name);
        return created;
      }
      first = false;
      if (signal?.aborted) return created;
    }
  }

  /** The largest leading part of `plan` (halving from a bound) whose transaction fits the store's limit. */
  #firstPart(
    job: JobRecord,
    plan: ReconcilePlan,
    versions: JobVersionRecord[],
    fence: JobFence,
    unfencedHosts: boolean,
  ): { part: ReconcilePlan; ops: TxnOp[]; placed: string[]; decoded: Decoded[] } {
    const max = Math.max(4, this.#d.store.maxTxnOps - TXN_HEADROOM);
    // A create takes at least two operations and a remove three: no part can hold more than this.
    const bound = Math.floor(max / 2);
    let part: ReconcilePlan =
      plan.create.length + plan.stop.length + plan.remove.length > bound
        ? {
            ...plan,
            create: plan.create.slice(0, bound),
            stop: plan.stop.slice(0, bound),
            remove: plan.remove.slice(0, bound),
          }
        : plan;
    let decoded: Decoded[] = [];
    let ops = this.#planOps(job, part, versions, decoded);
    let placed = hostsOf(part);
    const fenced = (): number => (unfencedHosts ? 0 : placed.length);
    while (ops.length + fenced() > max || fenced() + 2 + fence.compares.length > max) {
      const size = part.create.length + part.stop.length + part.remove.length;
      if (size <= 1) break;
      part = {
        ...part,
        create: part.create.slice(0, Math.ceil(part.create.length / 2)),
        stop: part.stop.slice(0, Math.ceil(part.stop.length / 2)),
        remove: part.remove.slice(0, Math.ceil(part.remove.length / 2)),
      };
      decoded = [];
      ops = this.#planOps(job, part, versions, decoded);
      placed = hostsOf(part);
    }
    return { part, ops, placed, decoded };
  }

  /** The plan's operations; the task records it writes go to `decoded` with their objects. */
  #planOps(job: JobRecord, plan: ReconcilePlan, versions: JobVersionRecord[], decoded: Decoded[]): TxnOp[] {
    const ops: TxnOp[] = [];
    const name = job.name;
    const current = this.#d.cache.tasks.get(name);
    const put = (key: string, value: unknown): void => {
      ops.push({ type: 'put', key, value: JSON.stringify(value) });
    };
    const encode = taskEncoder(versions, this.#d.cache.versions.get(name));
    for (const t of plan.create) {
      const before = current?.get(t.id)?.value;
      if (before?.host && before.host !== t.host)
        ops.push({ type: 'delete', key: keys.assignment(before.host, t.id) });
      // The task record and its assignment hold the same JSON: encode it once.
      const value = encode(t);
      decoded.push({ key: keys.task(name, t.id), value, object: t });
      ops.push({ type: 'put', key: keys.task(name, t.id), value });
      if (t.host !== null) ops.push({ type: 'put', key: keys.assignment(t.host, t.id), value });
    }
    for (const id of plan.stop) {
      const t = current?.get(id)?.value;
      if (!t || t.desired === 'stop') continue;
      const why = plan.preempted?.[id];
      const stopped: Task = { ...t, desired: 'stop', ...(why === undefined ? {} : { preempted: why }) };
      const value = encode(stopped);
      decoded.push({ key: keys.task(name, id), value, object: stopped });
      ops.push({ type: 'put', key: keys.task(name, id), value });
      if (t.host !== null) ops.push({ type: 'put', key: keys.assignment(t.host, id), value });
    }
    for (const id of plan.remove) {
      const t = current?.get(id)?.value;
      if (!t) continue;
      ops.push({ type: 'delete', key: keys.task(name, id) });
      if (t.host !== null) ops.push({ type: 'delete', key: keys.assignment(t.host, id) });
      ops.push({ type: 'delete', key: keys.status(name, id) });
    }
    for (const d of [...plan.supersede, ...(plan.deployment ? [plan.deployment] : [])]) {
      put(keys.deployment(name, d.version), d);
    }
    for (const v of plan.volumes ?? []) put(keys.volume(name, v.slot), v);
    if (plan.rollbackTo !== undefined) {
      const target = versions.find((v) => v.version === plan.rollbackTo);
      if (target) {
        const now = this.#d.clock.now();
        const version = job.version + 1;
        const record: JobRecord = { ...job, version, spec: target.spec, updatedAt: now };
        put(keys.job(name), record);
        put(keys.jobVersion(name, version), {
          name,
          version,
          spec: target.spec,
          createdAt: now,
        } satisfies JobVersionRecord);
      }
    }
    if (ops.length > 0) {
      const shown = plan.events.slice(0, MAX_EVENTS_PER_PLAN);
      if (plan.events.length > shown.length) {
        shown.push({ kind: 'plan.more', message: `and ${plan.events.length - shown.length} more changes` });
      }
      ops.push(...this.#d.events.ops(shown.map((e) => ({ ...e, job: name }))));
    }
    return ops;
  }
}

/**
 * Encodes a plan's tasks (`encodeTaskRecord`): each refers to its job version's spec instead of
 * copying it when the version's record is known and holds the same spec, which is checked once per
 * spec object (a plan's new tasks share their job's spec object).
 */
function taskEncoder(
  versions: readonly JobVersionRecord[],
  cached: ReadonlyMap<number, JobVersionRecord> | undefined,
): (t: Task) => string {
  const checked = new Map<Task['spec'], JobVersionRecord | undefined>();
  return (t) => {
    let v = checked.get(t.spec);
    if (v === undefined && !checked.has(t.spec)) {
      const record = cached?.get(t.version) ?? versions.find((r) => r.version === t.version);
      v = record !== undefined && sameSpec(record.spec.task, t.spec) ? record : undefined;
      checked.set(t.spec, v);
    }
    return encodeTaskRecord(t, v);
  };
}

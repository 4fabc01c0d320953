/**
 * Volumes in placement (docs/volumes.md). In a job with `task.volumes` every task has a slot (0, 1,
 * ...: a StatefulSet's ordinal), and a slot's volumes live on one host, recorded in a VolumeRecord.
 * A task of a slot whose host is up (ready or cordoned) goes back to that host and nowhere else (the
 * allocator's volume-affinity filter); it waits, unplaced and saying why, while that host cannot
 * take it. A host that is down is waited for `placement.volumeWait` (default 5 minutes, counted
 * from when a task of the slot first needed it: `hostDownSince` on the record). When the host is
 * draining, in maintenance or gone, or down for longer than that, the task gets fresh volumes
 * where it fits: the record moves to the new host, with an event and a note on the task.
 *
 * Which slot a new task takes: the lowest that no task staying this pass holds; failing that, the
 * lowest held only by tasks of an older spec (a rolling update's replacement takes over the
 * volumes of a task it replaces; both run at once only within maxSurge). A task that replaces
 * another (a move off a draining host, a reschedule) takes that task's slot.
 */
import type { HostState, ResourceSpec, Task, TaskView, VolumeRecord } from '../model/index.ts';
import type { PlaceHints, PlacementResult, Placer } from './placement.ts';
import type { HostLookup, PlanEvent, ReconcilePlan } from './types.ts';

/** placement.volumeWait's default: 5 minutes. */
export const VOLUME_WAIT_MS = 5 * 60_000;

/** Host states in which a slot's volumes stay where they are (the task waits for the host). */
const HOLDING: ReadonlySet<HostState> = new Set<HostState>(['ready', 'cordoned']);

export interface VolumePlacerInput {
  job: { name: string; replicas: number; volumes: readonly string[] };
  /** The job's tasks that should run, before this pass's stops. */
  live: readonly TaskView[];
  /** Tasks this pass stops. */
  stopped: ReadonlySet<string>;
  /** Whether a task runs the job's current task spec. */
  isCurrent: (t: TaskView) => boolean;
  /** The job's volume records (any order). */
  records: readonly VolumeRecord[];
  hosts: HostLookup;
  /** placement.volumeWait in ms. */
  waitMs: number;
  now: number;
}

/** Wraps a placer: picks each task's slot, pins it to its volumes' host, records where they are. */
export class VolumePlacer implements Placer {
  readonly #base: Placer;
  readonly #in: VolumePlacerInput;
  /** Slots held by current-spec tasks that stay, and slots handed out in this pass. */
  readonly #taken = new Set<number>();
  /** Slots held by older-spec tasks that stay (still running): a rolling update reuses them. */
  readonly #oldHeld = new Set<number>();
  readonly #slotOf = new Map<string, number>();
  readonly #bySlot = new Map<number, VolumeRecord>();
  /** Records to write and events to tell, once the pass is done. */
  readonly records: VolumeRecord[] = [];
  readonly events: PlanEvent[] = [];
  /** When a slot waiting for its down host stops waiting (the earliest). */
  wakeAt: number | undefined;

  constructor(base: Placer, input: VolumePlacerInput) {
    this.#base = base;
    this.#in = input;
    for (const r of input.records) this.#bySlot.set(r.slot, r);
    for (const t of input.live) {
      if (t.slot === undefined) continue;
      this.#slotOf.set(t.id, t.slot);
      if (input.stopped.has(t.id)) continue;
      if (input.isCurrent(t)) this.#taken.add(t.slot);
      else this.#oldHeld.add(t.slot);
    }
  }

  place(resources: ResourceSpec, task?: string, hints?: PlaceHints): PlacementResult {
    const slot = this.#slotFor(task, hints);
    const record = this.#bySlot.get(slot);
    const host = record === undefined ? undefined : this.#in.hosts.get(record.host);
    const pin = record === undefined ? undefined : this.#pin(record, host?.state);
    const r = this.#base.place(resources, task, pin === undefined ? hints : { ...hints, volumeHost: pin });
    if (r.host === null) return { ...r, slot };
    if (record !== undefined && record.host === r.host) {
      if (record.hostDownSince !== undefined) this.#keep(withoutDownSince(record));
      return { ...r, slot };
    }
    const next: VolumeRecord = {
      job: this.#in.job.name,
      slot,
      host: r.host,
      names: [...this.#in.job.volumes],
      createdAt: this.#in.now,
    };
    if (record === undefined) {
      this.#keep(next);
      return { ...r, slot };
    }
    const why =
      host === undefined
        ? `host ${record.host} is gone`
        : host.state === 'down' && this.#in.waitMs > 0
          ? `host ${record.host} has been down for longer than placement.volumeWait (${Math.round(this.#in.waitMs / 1000)}s)`
          : `host ${record.host} is ${host.state}`;
    next.replaced = { host: record.host, why };
    this.#keep(next);
    const fresh = `fresh volumes on ${r.host}: ${why}, and the data of slot ${slot} there is abandoned`;
    this.events.push({
      kind: 'volume.fresh',
      message: `slot ${slot} of ${this.#in.job.name} gets ${fresh} (${this.#in.job.volumes.join(', ')})`,
      host: r.host,
      ...(task === undefined ? {} : { task }),
    });
    return { ...r, slot, freshVolumes: fresh };
  }

  /**
   * The host a slot's task must go to: its volumes' host while that is up, or down for less than
   * the wait (the task then waits, unplaced); undefined when the slot gets fresh volumes.
   */
  #pin(record: VolumeRecord, state: HostState | undefined): string | undefined {
    if (state !== undefined && HOLDING.has(state)) return record.host;
    if (state !== 'down' || this.#in.waitMs <= 0) return undefined;
    const since = record.hostDownSince ?? this.#in.now;
    const until = since + this.#in.waitMs;
    if (this.#in.now >= until) return undefined;
    if (record.hostDownSince === undefined) {
      this.#keep({ ...record, hostDownSince: since });
      this.events.push({
        kind: 'volume.waiting',
        message: `slot ${record.slot} of ${this.#in.job.name} waits for host ${record.host}, which holds its volumes and is down; fresh volumes elsewhere after ${Math.round(this.#in.waitMs / 1000)}s (placement.volumeWait)`,
        host: record.host,
      });
    }
    if (this.wakeAt === undefined || until < this.wakeAt) this.wakeAt = until;
    return record.host;
  }

  /** Records of slots whose host is back up: the wait they noted is over. */
  settle(): void {
    for (const r of this.#bySlot.values()) {
      if (r.hostDownSince === undefined) continue;
      const state = this.#in.hosts.get(r.host)?.state;
      if (state !== undefined && HOLDING.has(state)) this.#keep(withoutDownSince(r));
    }
  }

  #keep(r: VolumeRecord): void {
    this.#bySlot.set(r.slot, r);
    const i = this.records.findIndex((x) => x.slot === r.slot);
    if (i >= 0) this.records[i] = r;
    else this.records.push(r);
  }

  #slotFor(task: string | undefined, hints: PlaceHints | undefined): number {
    const replaced = hints?.replaces === undefined ? undefined : this.#slotOf.get(hints.replaces);
    if (replaced !== undefined) return replaced;
    const own = task === undefined ? undefined : this.#slotOf.get(task);
    if (own !== undefined) return own;
    let slot = 0;
    while (this.#taken.has(slot) || this.#oldHeld.has(slot)) slot++;
    if (slot >= this.#in.job.replicas) {
      // No free slot among the job's first `replicas`: take over an old task's slot instead (one no
      // current task holds already: a current task waiting for its host keeps its slot).
      const reuse = [...this.#oldHeld].filter((s) => !this.#taken.has(s)).sort((a, b) => a - b)[0];
      if (reuse !== undefined) slot = reuse;
    }
    this.#taken.add(slot);
    this.#oldHeld.delete(slot);
    if (task !== undefined) this.#slotOf.set(task, slot);
    return slot;
  }
}

function withoutDownSince(r: VolumeRecord): VolumeRecord {
  const { hostDownSince: _since, ...rest } = r;
  return rest;
}

/** Copies what placement decided about volumes onto the task record. */
export function withVolumePlacement(task: Task, r: PlacementResult): Task {
  if (r.slot !== undefined) task.slot = r.slot;
  if (r.host !== null && r.freshVolumes !== undefined) task.freshVolumes = r.freshVolumes;
  return task;
}

/** Adds the placer's volume records and events to the plan (nothing for a plain placer). */
export function finishVolumes(placer: Placer, plan: ReconcilePlan): void {
  if (!(placer instanceof VolumePlacer)) return;
  placer.settle();
  if (placer.wakeAt !== undefined && (plan.wakeAt === undefined || placer.wakeAt < plan.wakeAt))
    plan.wakeAt = placer.wakeAt;
  if (placer.records.length > 0) plan.volumes = [...(plan.volumes ?? []), ...placer.records];
  plan.events.push(...placer.events);
}

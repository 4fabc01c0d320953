/**
 * One job's tasks across the fleet during an allocation: the existing ones (from the request) plus
 * those placed so far. Spread, distinct hosts and job anti-affinity read it.
 */
import type { Fleet } from './fleet.ts';
import type { JobTaskCounts } from './types.ts';

/** The job's tasks per value of one attribute. */
export interface AttributeCounts {
  /** By value code (see `Fleet.codes`). */
  readonly counts: Int32Array;
  /** Values with at least one task, including values no host of the request has (`offFleet`). */
  distinct: number;
  /** Existing tasks on values that no host in the request has (from `perLabel`). */
  readonly offFleet: ReadonlyMap<string, number>;
}

export class JobState {
  readonly name: string;
  /** Bumps on every placement of the job (cached failures of the job's classes check it). */
  version = 0;
  readonly #fleet: Fleet;
  readonly #existing: JobTaskCounts | undefined;
  readonly #perHost = new Map<number, number>();
  readonly #attributes = new Map<string, { codes: Int32Array; counts: AttributeCounts }>();

  constructor(fleet: Fleet, name: string, existing: JobTaskCounts | undefined) {
    this.name = name;
    this.#fleet = fleet;
    this.#existing = existing;
    for (const [id, n] of existing?.perHost ?? []) {
      const h = fleet.index.get(id);
      if (h !== undefined && n > 0) this.#perHost.set(h, (this.#perHost.get(h) ?? 0) + n);
    }
  }

  /** The job's tasks on host `h`. */
  onHost(h: number): number {
    return this.#perHost.get(h) ?? 0;
  }

  /**
   * The job's tasks per value of `attribute`, kept up to date as tasks are placed. Starts from
   * `existing.perLabel` when it has the attribute, else from `existing.perHost` and host labels.
   */
  attribute(attribute: string): AttributeCounts {
    let a = this.#attributes.get(attribute);
    if (a === undefined) {
      const { codes, values, index } = this.#fleet.codes(attribute);
      const counts = new Int32Array(values.length);
      const offFleet = new Map<string, number>();
      const given = this.#existing?.perLabel?.get(attribute);
      if (given !== undefined) {
        for (const [v, n] of given) {
          if (n <= 0) continue;
          const code = index.get(v);
          if (code === undefined) offFleet.set(v, n);
          else counts[code] = n;
        }
        // #perHost holds existing and placed tasks; the existing ones are in `given` already.
        for (const [h, n] of this.#perHost) {
          const placedHere = n - Math.max(0, this.#existingOn(h) ?? 0);
          const c = codes[h]!;
          if (c >= 0 && placedHere > 0) counts[c]! += placedHere;
        }
      } else {
        for (const [h, n] of this.#perHost) {
          const c = codes[h]!;
          if (c >= 0) counts[c]! += n;
        }
      }
      let distinct = offFleet.size;
      for (const n of counts) if (n > 0) distinct++;
      a = { codes, counts: { counts, distinct, offFleet } };
      this.#attributes.set(attribute, a);
    }
    return a.counts;
  }

  /** The job's tasks per value of `attribute`, as a map (for explanations). */
  valueCounts(attribute: string): ReadonlyMap<string, number> {
    const a = this.attribute(attribute);
    const { values } = this.#fleet.codes(attribute);
    const m = new Map(a.offFleet);
    a.counts.forEach((n, code) => {
      if (n > 0) m.set(values[code]!, n);
    });
    return m;
  }

  add(h: number): void {
    this.version++;
    this.#perHost.set(h, (this.#perHost.get(h) ?? 0) + 1);
    for (const { codes, counts } of this.#attributes.values()) {
      const c = codes[h]!;
      if (c < 0) continue;
      if (counts.counts[c] === 0) counts.distinct++;
      counts.counts[c]!++;
    }
  }

  #existingOn(h: number): number | undefined {
    return this.#existing?.perHost.get(this.#fleet.id(h));
  }
}

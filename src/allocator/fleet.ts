/**
 * The fleet as the allocator works on it: hosts in id order, addressed by index, with their free
 * capacity in typed arrays (capacity - allocated - what this allocator placed), attribute columns
 * and ports in use.
 */
import type { HostView, ResourceSpec } from '../model/index.ts';
import { attributeOf } from './attributes.ts';

/** Slack for fractional CPU sums (0.1 + 0.2 must fit in 0.3). */
export const CPU_EPSILON = 1e-9;

/** An attribute's values numbered: `codes[h]` is host h's value's index in `values`, or -1. */
export interface AttributeCodes {
  readonly codes: Int32Array;
  readonly values: readonly string[];
  readonly index: ReadonlyMap<string, number>;
}

/** What a fork shares with the fleet it came from: everything but the free capacity and ports. */
interface Shape {
  hosts: HostView[];
  index: Map<string, number>;
  capacityCpu: Float64Array;
  capacityMemory: Float64Array;
  columns: Map<string, readonly (string | undefined)[]>;
  codes: Map<string, AttributeCodes>;
  /** Hosts passing a set of static filters, by the filters' key (see `staticPass`). */
  statics: Map<string, Int32Array>;
}

export class Fleet {
  /** Hosts sorted by id (one per id: the first of duplicates wins). */
  readonly hosts: readonly HostView[];
  readonly size: number;
  readonly index: ReadonlyMap<string, number>;
  readonly freeCpu: Float64Array;
  readonly freeMemory: Float64Array;
  readonly freePids: Float64Array;
  readonly capacityCpu: Float64Array;
  readonly capacityMemory: Float64Array;
  readonly #shape: Shape;
  readonly #ports: (Set<number> | undefined)[];
  /** Port sets still shared with the fleet this one was forked from (copied before a change). */
  #sharedPorts: boolean;

  constructor(hosts: readonly HostView[], usedPorts?: ReadonlyMap<string, Iterable<number>>);
  /** (Internal: a fork.) */
  constructor(hosts: readonly HostView[], usedPorts: undefined, from: Fleet);
  constructor(hosts: readonly HostView[], usedPorts?: ReadonlyMap<string, Iterable<number>>, from?: Fleet) {
    if (from !== undefined) {
      this.#shape = from.#shape;
      this.hosts = from.hosts;
      this.size = from.size;
      this.index = from.index;
      this.capacityCpu = from.capacityCpu;
      this.capacityMemory = from.capacityMemory;
      this.freeCpu = from.freeCpu.slice();
      this.freeMemory = from.freeMemory.slice();
      this.freePids = from.freePids.slice();
      this.#ports = from.#ports.slice();
      this.#sharedPorts = true;
      return;
    }
    const byId = new Map<string, HostView>();
    for (const h of hosts) if (!byId.has(h.id)) byId.set(h.id, h);
    const sorted = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const size = sorted.length;
    this.#shape = {
      hosts: sorted,
      index: new Map(sorted.map((h, i) => [h.id, i])),
      capacityCpu: new Float64Array(size),
      capacityMemory: new Float64Array(size),
      columns: new Map(),
      codes: new Map(),
      statics: new Map(),
    };
    this.hosts = this.#shape.hosts;
    this.size = size;
    this.index = this.#shape.index;
    this.capacityCpu = this.#shape.capacityCpu;
    this.capacityMemory = this.#shape.capacityMemory;
    this.freeCpu = new Float64Array(size);
    this.freeMemory = new Float64Array(size);
    this.freePids = new Float64Array(size);
    this.#ports = new Array<Set<number> | undefined>(size);
    this.#sharedPorts = false;
    for (let i = 0; i < size; i++) {
      this.#setCapacity(i, sorted[i]!);
      const used = usedPorts?.get(sorted[i]!.id);
      if (used !== undefined) this.#ports[i] = new Set(used);
    }
  }

  /**
   * A fleet over the same hosts whose capacity and ports can be used without changing this one
   * (an allocation works on a fork; the one kept across allocations stays as the hosts are).
   * Cheap: the free-capacity arrays are copied, everything else is shared.
   */
  fork(): Fleet {
    return new Fleet(this.hosts, undefined, this);
  }

  /**
   * Takes a host's new view (what it holds, its state, its labels) in place. Returns false when the
   * fleet cannot take it so and must be rebuilt: the host is not in the fleet. Forks share the host
   * views and attribute columns (not the capacity): change a fleet only while none of its forks is
   * in use (an allocation is synchronous). Attribute columns are dropped when labels or runtime change.
   */
  setHost(view: HostView): boolean {
    const i = this.index.get(view.id);
    if (i === undefined) return false;
    const before = this.#shape.hosts[i]!;
    this.#shape.hosts[i] = view;
    if (before.runtime !== view.runtime || !sameLabels(before.labels, view.labels)) {
      this.#shape.columns.clear();
      this.#shape.codes.clear();
      this.#shape.statics.clear();
    } else if (before.state !== view.state || conditionsOf(before) !== conditionsOf(view)) {
      this.#shape.statics.clear();
    }
    this.#setCapacity(i, view);
    return true;
  }

  #setCapacity(i: number, h: HostView): void {
    this.freeCpu[i] = h.capacity.cpu - h.allocated.cpu;
    this.freeMemory[i] = h.capacity.memoryBytes - h.allocated.memoryBytes;
    this.freePids[i] = h.capacity.pids - h.allocated.pids;
    this.capacityCpu[i] = h.capacity.cpu;
    this.capacityMemory[i] = h.capacity.memoryBytes;
  }

  /**
   * The hosts (indexes, ascending) that pass static filters, computed once per `key` and shared by
   * every fork until a host's state, labels or runtime change. Static filters decide from those
   * alone, so equal keys (the filters' names and their `key(ask)`) give equal answers.
   */
  staticPass(key: string, compute: () => Int32Array): Int32Array {
    let pass = this.#shape.statics.get(key);
    if (pass === undefined) {
      pass = compute();
      this.#shape.statics.set(key, pass);
    }
    return pass;
  }

  /** The host with this id, if the fleet has it. */
  get(id: string): HostView | undefined {
    const i = this.index.get(id);
    return i === undefined ? undefined : this.hosts[i];
  }

  host(h: number): HostView {
    return this.hosts[h]!;
  }

  id(h: number): string {
    return this.hosts[h]!.id;
  }

  /** Each host's value of `attribute` (undefined where the host lacks it), by host index. */
  column(attribute: string): readonly (string | undefined)[] {
    let c = this.#shape.columns.get(attribute);
    if (c === undefined) {
      c = this.hosts.map((h) => attributeOf(h, attribute));
      this.#shape.columns.set(attribute, c);
    }
    return c;
  }

  /** Each host's value of `attribute` as a small integer (-1 where the host lacks it). */
  codes(attribute: string): AttributeCodes {
    let c = this.#shape.codes.get(attribute);
    if (c === undefined) {
      const values: string[] = [];
      const index = new Map<string, number>();
      const codes = new Int32Array(this.size);
      const column = this.column(attribute);
      for (let h = 0; h < this.size; h++) {
        const v = column[h];
        if (v === undefined) {
          codes[h] = -1;
          continue;
        }
        let code = index.get(v);
        if (code === undefined) {
          code = values.length;
          values.push(v);
          index.set(v, code);
        }
        codes[h] = code;
      }
      c = { codes, values, index };
      this.#shape.codes.set(attribute, c);
    }
    return c;
  }

  fits(h: number, need: ResourceSpec): boolean {
    return (
      this.freeCpu[h]! + CPU_EPSILON >= need.cpu &&
      this.freeMemory[h]! >= need.memoryBytes &&
      this.freePids[h]! >= need.pids
    );
  }

  consume(h: number, need: ResourceSpec): void {
    this.freeCpu[h]! -= need.cpu;
    this.freeMemory[h]! -= need.memoryBytes;
    this.freePids[h]! -= need.pids;
  }

  portInUse(h: number, port: number): boolean {
    return this.#ports[h]?.has(port) ?? false;
  }

  usePorts(h: number, ports: readonly number[]): void {
    if (this.#sharedPorts) {
      for (let i = 0; i < this.size; i++) {
        const set = this.#ports[i];
        if (set !== undefined) this.#ports[i] = new Set(set);
      }
      this.#sharedPorts = false;
    }
    let s = this.#ports[h];
    if (s === undefined) {
      s = new Set();
      this.#ports[h] = s;
    }
    for (const p of ports) s.add(p);
  }
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** A host's reported conditions as one string (a change re-runs the static filters). */
function conditionsOf(h: HostView): string {
  return h.conditions?.map((c) => c.type).join(',') ?? '';
}

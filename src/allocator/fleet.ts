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
  readonly #columns = new Map<string, readonly (string | undefined)[]>();
  readonly #codes = new Map<string, AttributeCodes>();
  readonly #ports: (Set<number> | undefined)[];

  constructor(hosts: readonly HostView[], usedPorts?: ReadonlyMap<string, Iterable<number>>) {
    const byId = new Map<string, HostView>();
    for (const h of hosts) if (!byId.has(h.id)) byId.set(h.id, h);
    this.hosts = [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    this.size = this.hosts.length;
    this.index = new Map(this.hosts.map((h, i) => [h.id, i]));
    this.freeCpu = new Float64Array(this.size);
    this.freeMemory = new Float64Array(this.size);
    this.freePids = new Float64Array(this.size);
    this.capacityCpu = new Float64Array(this.size);
    this.capacityMemory = new Float64Array(this.size);
    this.#ports = new Array<Set<number> | undefined>(this.size);
    for (let i = 0; i < this.size; i++) {
      const h = this.hosts[i]!;
      this.freeCpu[i] = h.capacity.cpu - h.allocated.cpu;
      this.freeMemory[i] = h.capacity.memoryBytes - h.allocated.memoryBytes;
      this.freePids[i] = h.capacity.pids - h.allocated.pids;
      this.capacityCpu[i] = h.capacity.cpu;
      this.capacityMemory[i] = h.capacity.memoryBytes;
      const used = usedPorts?.get(h.id);
      if (used !== undefined) this.#ports[i] = new Set(used);
    }
  }

  host(h: number): HostView {
    return this.hosts[h]!;
  }

  id(h: number): string {
    return this.hosts[h]!.id;
  }

  /** Each host's value of `attribute` (undefined where the host lacks it), by host index. */
  column(attribute: string): readonly (string | undefined)[] {
    let c = this.#columns.get(attribute);
    if (c === undefined) {
      c = this.hosts.map((h) => attributeOf(h, attribute));
      this.#columns.set(attribute, c);
    }
    return c;
  }

  /** Each host's value of `attribute` as a small integer (-1 where the host lacks it). */
  codes(attribute: string): AttributeCodes {
    let c = this.#codes.get(attribute);
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
      this.#codes.set(attribute, c);
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
    let s = this.#ports[h];
    if (s === undefined) {
      s = new Set();
      this.#ports[h] = s;
    }
    for (const p of ports) s.add(p);
  }
}

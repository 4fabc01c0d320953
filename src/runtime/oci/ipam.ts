/**
 * Address allocation for tasks from the agent's private subnet (the host's range of the task
 * network, or one configured on the agent). Allocations persist in a JSON file in the state
 * directory, so a restarted agent never hands out an address still in use, also when its subnet
 * changed; a cursor makes freed addresses the last to be reused.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { RuntimeError } from '../../errors/index.ts';
import {
  formatCidr,
  formatIpv4,
  isPrivateRange,
  parseCidr,
  parseIpv4,
  rangeHas,
  type Ipv4Range,
} from '../../lib/index.ts';

/** A task range: its first address and prefix length (see lib/ipv4), gateway and CIDR text. */
export interface Subnet extends Ipv4Range {
  /** The bridge's address (first host address). */
  gateway: string;
  cidr: string;
}

/** Parses "10.88.0.0/16"; only private ranges, /8 to /29. */
export function parseSubnet(cidr: string): Subnet {
  const range = parseCidr(cidr);
  if (range === undefined || range.prefix < 8 || range.prefix > 29) {
    throw new RuntimeError(`bad subnet "${cidr}" (use a private CIDR such as 10.88.0.0/16)`, {
      details: { reason: 'BadNetwork' },
    });
  }
  if (!isPrivateRange(range)) {
    throw new RuntimeError(`subnet ${cidr} is not a private range (10/8, 172.16/12, 192.168/16)`, {
      details: { reason: 'BadNetwork' },
    });
  }
  return { ...range, gateway: formatIpv4(range.base + 1), cidr: formatCidr(range) };
}

interface IpamFile {
  subnet: string;
  cursor: number;
  /** address -> owner (task id) */
  allocations: Record<string, string>;
}

export class Ipam {
  readonly subnet: Subnet;
  private readonly file: string;
  private lock: Promise<unknown> = Promise.resolve();
  /** Changes waiting for the next read-modify-write (see mutate). */
  private readonly pending: {
    change: (v: IpamFile) => { changed: boolean; resolve: () => void };
    reject: (e: unknown) => void;
  }[] = [];

  constructor(file: string, subnet: Subnet) {
    this.file = file;
    this.subnet = subnet;
  }

  private read(): IpamFile {
    try {
      // Synchronous calls: a small file, read and written once per burst of starts (see
      // writeSmallFile in task-record.ts).
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as IpamFile;
      if (v.subnet !== this.subnet.cidr) {
        // A changed subnet (e.g. the server's range for the host replaced the old default
        // 10.88.0.0/16): addresses inside the new range stay held by their tasks, so none still in
        // use is handed out again; the others are dropped (none of them can be handed out, and
        // their tasks keep them until they stop). recover() then frees those of tasks that are gone.
        const allocations: Record<string, string> = {};
        for (const [addr, owner] of Object.entries(v.allocations ?? {})) {
          if (this.contains(addr)) allocations[addr] = owner;
        }
        return { subnet: this.subnet.cidr, cursor: 0, allocations };
      }
      return { subnet: v.subnet, cursor: v.cursor ?? 0, allocations: v.allocations ?? {} };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT')
        return { subnet: this.subnet.cidr, cursor: 0, allocations: {} };
      throw e;
    }
  }

  /** Whether `address` is in this subnet. */
  contains(address: string): boolean {
    const n = parseIpv4(address);
    return n !== undefined && rangeHas(this.subnet, n);
  }

  private write(v: IpamFile): void {
    const tmp = `${this.file}.${randomBytes(4).toString('hex')}`;
    writeFileSync(tmp, JSON.stringify(v, null, 2));
    renameSync(tmp, this.file);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies `change` to the file: changes asked while one read-modify-write waits or runs are
   * applied together by the next one (one read and one write for a burst of 50 starts, instead of
   * 50 of each in a row). Each change sees the effect of those before it; one that throws fails
   * alone. `change` returns its result and whether it changed anything.
   */
  private mutate<T>(change: (v: IpamFile) => { result: T; changed: boolean }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        change: (v) => {
          const r = change(v);
          return { ...r, resolve: () => resolve(r.result) };
        },
        reject,
      });
      if (this.pending.length === 1) void this.serial(() => Promise.resolve(this.applyPending()));
    });
  }

  private applyPending(): void {
    const batch = this.pending.splice(0);
    const done: (() => void)[] = [];
    try {
      const v = this.read();
      let changed = false;
      for (const p of batch) {
        try {
          const r = p.change(v);
          changed ||= r.changed;
          done.push(r.resolve);
        } catch (e) {
          p.reject(e);
        }
      }
      if (changed) this.write(v);
      for (const d of done) d();
    } catch (e) {
      // Unread or unwritten: nothing of the batch took effect.
      for (const p of batch) p.reject(e);
    }
  }

  /** A free address for `owner` (the same one if it already has one). */
  allocate(owner: string): Promise<string> {
    return this.mutate((v) => {
      for (const [addr, o] of Object.entries(v.allocations))
        if (o === owner) return { result: addr, changed: false };
      const hosts = 2 ** (32 - this.subnet.prefix) - 3; // minus network, gateway, broadcast
      for (let i = 0; i < hosts; i++) {
        const offset = ((v.cursor + i) % hosts) + 2;
        const addr = formatIpv4(this.subnet.base + offset);
        if (v.allocations[addr] !== undefined) continue;
        v.allocations[addr] = owner;
        v.cursor = (offset - 2 + 1) % hosts;
        return { result: addr, changed: true };
      }
      throw new RuntimeError(`no free address left in ${this.subnet.cidr}`, {
        details: { reason: 'StartFailed' },
      });
    });
  }

  /** Frees `address` (only if `owner` holds it, when given). */
  release(address: string, owner?: string): Promise<void> {
    return this.mutate((v) => {
      const holder = v.allocations[address];
      if (holder === undefined || (owner !== undefined && holder !== owner))
        return { result: undefined, changed: false };
      delete v.allocations[address];
      return { result: undefined, changed: true };
    });
  }

  /** Frees every address `owner` holds (also one allocated just before a crash). */
  releaseOwner(owner: string): Promise<void> {
    return this.mutate((v) => {
      const mine = Object.keys(v.allocations).filter((a) => v.allocations[a] === owner);
      for (const a of mine) delete v.allocations[a];
      return { result: undefined, changed: mine.length > 0 };
    });
  }

  list(): Promise<Record<string, string>> {
    return this.serial(() => Promise.resolve(this.read().allocations));
  }
}

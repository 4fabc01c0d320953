/**
 * One shard's distribution tree (docs/config.md, "Distribution"), as the distributor keeps it:
 * rack-aware F-ary heaps. Members are grouped by rack (a member with no rack is in the unnamed
 * rack); each rack's members, in the order they joined, form an implicit F-ary heap (member i's
 * parent is member ⌊(i-1)/F⌋ of the same rack), and the racks, in the order they first appeared,
 * form one too: the first member of rack r hangs below the first member of rack ⌊(r-1)/F⌋, and the
 * first member of rack 0 is the root, whose upstream is the server. So a host's parent is in its
 * own rack whenever its rack has an earlier member; only a rack's first member fetches across
 * racks. Without racks (one rack, or every host a rack of its own) this is the plain F-ary heap.
 * A member has at most F children, a rack's first member at most F in its rack plus F racks' first
 * members; the depth is about log_F(racks) + log_F(members of a rack).
 *
 * A join appends (O(1)); a leave or a death moves the last member of the rack into the freed
 * place, and a rack left empty is replaced by the last rack (O(1)), so only a handful of members
 * change places: those are returned, for the distributor to send them their new position. Pure: no
 * I/O, no clock (times are passed in).
 *
 * Fan-out 0 is the star that the tree replaces (every member's upstream is the server): the
 * benchmarks' baseline.
 */
import type { TreePeer, TreePosition } from '../../model/index.ts';

export interface TreeMember {
  host: string;
  url: string;
  /** The member's place in its rack (set by the tree). */
  index: number;
  /** The host's rack (its `rack` label); absent: the unnamed rack. */
  rack?: string;
  /** Monotonic ms of the last sign of life (join, heartbeat). */
  lastSeen: number;
}

/** How many ancestors beyond the parent a position lists as fallbacks. */
const FALLBACKS = 3;

interface Rack<M> {
  name: string;
  /** The rack's place among the racks. */
  index: number;
  members: M[];
}

/** Steps from place i to place 0 of an F-ary heap. */
function heapDepth(i: number, fanout: number): number {
  let d = 0;
  for (let j = i; j > 0; j = Math.floor((j - 1) / fanout)) d++;
  return d;
}

export class ShardTree<M extends TreeMember = TreeMember> {
  readonly shard: number;
  readonly fanout: number;
  readonly #racks: Rack<M>[] = [];
  readonly #rackByName = new Map<string, Rack<M>>();
  readonly #byHost = new Map<string, M>();
  epoch = 0;

  constructor(shard: number, fanout: number) {
    if (!Number.isInteger(fanout) || fanout < 0) throw new Error(`fan-out must be a whole number from 0`);
    this.shard = shard;
    this.fanout = fanout;
  }

  get size(): number {
    return this.#byHost.size;
  }

  /** Every member: rack by rack (in the racks' order), each rack's in its order. */
  get order(): M[] {
    return this.#racks.flatMap((r) => r.members);
  }

  /** How many racks the members are in. */
  get racks(): number {
    return this.#racks.length;
  }

  get(host: string): M | undefined {
    return this.#byHost.get(host);
  }

  /** Adds a member at the end of its rack (a host already in is replaced). Members whose position changed. */
  join(member: M): M[] {
    this.epoch++;
    const old = this.#byHost.get(member.host);
    if (old !== undefined && (old.rack ?? '') === (member.rack ?? '')) {
      const rack = this.#rackOf(old);
      member.index = old.index;
      rack.members[old.index] = member;
      this.#byHost.set(member.host, member);
      // Its url may have changed: its children and parent hear of it.
      return this.#around(member);
    }
    const changed = new Set(old === undefined ? [] : this.leave(old));
    let rack = this.#rackByName.get(member.rack ?? '');
    if (rack === undefined) {
      rack = { name: member.rack ?? '', index: this.#racks.length, members: [] };
      this.#racks.push(rack);
      this.#rackByName.set(rack.name, rack);
    }
    member.index = rack.members.length;
    rack.members.push(member);
    this.#byHost.set(member.host, member);
    changed.add(member);
    const parent = this.parentOf(member);
    if (parent !== undefined) changed.add(parent);
    return this.#live(changed);
  }

  /** Removes a member (only that very member: a rejoin may have replaced it). Members whose position changed. */
  leave(member: M): M[] {
    if (this.#byHost.get(member.host) !== member) return [];
    this.epoch++;
    const rack = this.#rackOf(member);
    const changed = new Set<M>();
    const parent = this.parentOf(member);
    if (parent !== undefined) changed.add(parent);
    this.#byHost.delete(member.host);
    const i = member.index;
    const last = rack.members.pop();
    if (last !== undefined && last !== member) {
      const oldParent = this.parentOf(last);
      if (oldParent !== undefined) changed.add(oldParent);
      last.index = i;
      rack.members[i] = last;
      for (const m of this.#around(last)) changed.add(m);
    } else if (rack.members.length === 0) {
      this.#dropRack(rack, changed);
    }
    return this.#live(changed);
  }

  /** The member's upstream in the tree (undefined: the server). */
  parentOf(m: M): M | undefined {
    if (this.fanout === 0) return undefined;
    const rack = this.#rackOf(m);
    if (m.index > 0) return rack.members[Math.floor((m.index - 1) / this.fanout)];
    return rack.index === 0 ? undefined : this.#racks[Math.floor((rack.index - 1) / this.fanout)]?.members[0];
  }

  /** The member's children: in its rack, and for a rack's first member the next racks' first members. */
  childrenOf(m: M): M[] {
    const out: M[] = [];
    if (this.fanout === 0) return out;
    const rack = this.#rackOf(m);
    const f = this.fanout;
    for (let c = f * m.index + 1; c <= f * m.index + f && c < rack.members.length; c++) {
      const x = rack.members[c];
      if (x !== undefined) out.push(x);
    }
    if (m.index === 0) {
      for (let r = f * rack.index + 1; r <= f * rack.index + f && r < this.#racks.length; r++) {
        const x = this.#racks[r]?.members[0];
        if (x !== undefined) out.push(x);
      }
    }
    return out;
  }

  depthOf(m: M): number {
    if (this.fanout === 0) return 0;
    return heapDepth(this.#rackOf(m).index, this.fanout) + heapDepth(m.index, this.fanout);
  }

  /** The tree's depth (0 for one member, -1 for none). */
  depth(): number {
    if (this.size === 0) return -1;
    if (this.fanout === 0) return 0;
    let d = 0;
    for (const r of this.#racks)
      d = Math.max(d, heapDepth(r.index, this.fanout) + heapDepth(r.members.length - 1, this.fanout));
    return d;
  }

  position(m: M, heartbeatMs: number): TreePosition {
    const peer = (x: M): TreePeer => ({ host: x.host, url: x.url });
    const parent = this.parentOf(m);
    const fallbacks: TreePeer[] = [];
    for (let a = parent && this.parentOf(parent); a && fallbacks.length < FALLBACKS; a = this.parentOf(a))
      fallbacks.push(peer(a));
    return {
      shard: this.shard,
      epoch: this.epoch,
      depth: this.depthOf(m),
      parent: parent === undefined ? null : peer(parent),
      fallbacks,
      children: this.childrenOf(m).map(peer),
      heartbeatMs,
    };
  }

  /** Members not seen since `before` (monotonic ms). */
  silentSince(before: number): M[] {
    return this.order.filter((m) => m.lastSeen < before);
  }

  #rackOf(m: M): Rack<M> {
    const rack = this.#rackByName.get(m.rack ?? '');
    if (rack === undefined) throw new Error(`no rack "${m.rack ?? ''}" in config shard ${this.shard}'s tree`);
    return rack;
  }

  /** An empty rack goes; the last rack takes its place (its first member moves, with its parent). */
  #dropRack(rack: Rack<M>, changed: Set<M>): void {
    this.#rackByName.delete(rack.name);
    const lastRack = this.#racks.pop();
    if (lastRack === undefined || lastRack === rack) return;
    const first = lastRack.members[0];
    const oldParent = first && this.parentOf(first);
    if (oldParent !== undefined) changed.add(oldParent);
    lastRack.index = rack.index;
    this.#racks[rack.index] = lastRack;
    if (first !== undefined) for (const m of this.#around(first)) changed.add(m);
    // The freed place's other children (racks below it) have the moved rack's first as parent now.
    const f = this.fanout;
    for (let r = f * rack.index + 1; r <= f * rack.index + f && r < this.#racks.length; r++) {
      const x = this.#racks[r]?.members[0];
      if (x !== undefined) changed.add(x);
    }
  }

  /** The member, its parent and its children. */
  #around(m: M): M[] {
    const parent = this.parentOf(m);
    return [m, ...(parent ? [parent] : []), ...this.childrenOf(m)];
  }

  /** Those still in the tree (a member that left is not told). */
  #live(ms: Iterable<M>): M[] {
    return [...ms].filter((m) => this.#byHost.get(m.host) === m);
  }
}

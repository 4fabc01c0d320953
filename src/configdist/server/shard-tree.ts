/**
 * One shard's distribution tree (docs/config.md, "Distribution"): the subscribed hosts in an implicit
 * F-ary heap, as the distributor keeps it. Member i's parent is member ⌊(i-1)/F⌋ and its children
 * are members F·i+1 .. F·i+F; member 0 is the root, whose upstream is the server. So the fan-out is
 * bounded by F and the depth is ⌈log_F⌉ of the member count.
 *
 * A join appends (O(1)); a leave or a death moves the last member into the freed place (O(1)), so
 * only a handful of members change places: the moved one, the freed place's parent and children,
 * and the moved one's old parent. Those are returned, for the distributor to send them their new
 * position. Pure: no I/O, no clock (times are passed in).
 *
 * Fan-out 0 is the star that the tree replaces (every member's upstream is the server): the
 * benchmarks' baseline.
 */
import type { TreePeer, TreePosition } from '../../model/index.ts';

export interface TreeMember {
  host: string;
  url: string;
  index: number;
  /** Monotonic ms of the last sign of life (join, heartbeat). */
  lastSeen: number;
}

/** How many ancestors beyond the parent a position lists as fallbacks. */
const FALLBACKS = 3;

export class ShardTree<M extends TreeMember = TreeMember> {
  readonly shard: number;
  readonly fanout: number;
  readonly order: M[] = [];
  readonly #byHost = new Map<string, M>();
  epoch = 0;

  constructor(shard: number, fanout: number) {
    if (!Number.isInteger(fanout) || fanout < 0) throw new Error(`fan-out must be a whole number from 0`);
    this.shard = shard;
    this.fanout = fanout;
  }

  get size(): number {
    return this.order.length;
  }

  get(host: string): M | undefined {
    return this.#byHost.get(host);
  }

  /** Adds a member at the end (a host already in is replaced in place). Members whose position changed. */
  join(member: M): M[] {
    this.epoch++;
    const old = this.#byHost.get(member.host);
    if (old !== undefined) {
      member.index = old.index;
      this.order[old.index] = member;
      this.#byHost.set(member.host, member);
      // Its url may have changed: its children and parent hear of it.
      return this.#around(member.index);
    }
    member.index = this.order.length;
    this.order.push(member);
    this.#byHost.set(member.host, member);
    const parent = this.parentOf(member.index);
    return parent === undefined ? [member] : [member, parent];
  }

  /** Removes a member (only that very member: a rejoin may have replaced it). Members whose position changed. */
  leave(member: M): M[] {
    if (this.#byHost.get(member.host) !== member) return [];
    this.epoch++;
    this.#byHost.delete(member.host);
    const i = member.index;
    const last = this.order.pop();
    if (last === undefined || last === member) {
      const parent = this.parentOf(i);
      return parent === undefined ? [] : [parent];
    }
    const oldParent = this.parentOf(last.index);
    last.index = i;
    this.order[i] = last;
    const changed = new Set(this.#around(i));
    if (oldParent !== undefined && oldParent !== member && this.#byHost.get(oldParent.host) === oldParent)
      changed.add(oldParent);
    return [...changed];
  }

  parentOf(i: number): M | undefined {
    return i === 0 || this.fanout === 0 ? undefined : this.order[Math.floor((i - 1) / this.fanout)];
  }

  childrenOf(i: number): M[] {
    const out: M[] = [];
    for (let c = this.fanout * i + 1; c <= this.fanout * i + this.fanout && c < this.order.length; c++) {
      const m = this.order[c];
      if (m !== undefined) out.push(m);
    }
    return out;
  }

  depthOf(i: number): number {
    if (this.fanout === 0) return 0;
    let d = 0;
    for (let j = i; j > 0; j = Math.floor((j - 1) / this.fanout)) d++;
    return d;
  }

  /** The tree's depth (0 for one member, -1 for none). */
  depth(): number {
    return this.order.length === 0 ? -1 : this.fanout === 0 ? 0 : this.depthOf(this.order.length - 1);
  }

  position(m: M, heartbeatMs: number): TreePosition {
    const peer = (x: M): TreePeer => ({ host: x.host, url: x.url });
    const parent = this.parentOf(m.index);
    const fallbacks: TreePeer[] = [];
    for (let a = parent && this.parentOf(parent.index); a && fallbacks.length < FALLBACKS;) {
      fallbacks.push(peer(a));
      a = this.parentOf(a.index);
    }
    return {
      shard: this.shard,
      epoch: this.epoch,
      depth: this.depthOf(m.index),
      parent: parent === undefined ? null : peer(parent),
      fallbacks,
      children: this.childrenOf(m.index).map(peer),
      heartbeatMs,
    };
  }

  /** Members not seen since `before` (monotonic ms). */
  silentSince(before: number): M[] {
    return this.order.filter((m) => m.lastSeen < before);
  }

  /** Member i, its parent and its children. */
  #around(i: number): M[] {
    const m = this.order[i];
    const parent = this.parentOf(i);
    return [...(m ? [m] : []), ...(parent ? [parent] : []), ...this.childrenOf(i)];
  }
}

/**
 * Claiming a slot (a /27 of 10.90.0.0/24 and its names) for a new testbed. Claims are serialized by
 * a lock file in the registry; a slot whose owner died (a crashed test run) is cleaned and reused.
 */
import { openSync, closeSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { SLOT_COUNT, slotPlan } from './address-plan.ts';
import { REGISTRY_DIR, ensureRegistry, ownerAlive, readSlot, writeSlot } from './registry.ts';
import { readState, type ProcessRef } from './state.ts';
import { isSameProcessAlive, linkExists, listNetns, processStart, sleepSync } from './system.ts';
import { teardownSlot } from './teardown.ts';

const LOCK = join(REGISTRY_DIR, 'claim.lock');

export function self(): ProcessRef {
  const start = processStart(process.pid);
  if (start === undefined) throw new Error('cannot read /proc/self/stat');
  return { pid: process.pid, start };
}

function withClaimLock<T>(fn: () => T, timeoutMs = 60_000): T {
  ensureRegistry();
  const me = self();
  const until = Date.now() + timeoutMs;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(LOCK, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== undefined) {
      try {
        writeSync(fd, JSON.stringify(me));
      } finally {
        closeSync(fd);
      }
      try {
        return fn();
      } finally {
        rmSync(LOCK, { force: true });
      }
    }
    // Held: by a live process (wait), or by one that died holding it (break it).
    try {
      const holder = JSON.parse(readFileSync(LOCK, 'utf8')) as ProcessRef;
      if (!isSameProcessAlive(holder.pid, holder.start)) rmSync(LOCK, { force: true });
    } catch {
      // being written, or just removed
    }
    if (Date.now() > until) throw new Error(`timed out waiting for the testbed claim lock ${LOCK}`);
    sleepSync(25);
  }
}

/** True when something of the slot exists on this machine (bridge, namespaces). */
function slotInUse(slot: number): boolean {
  const plan = slotPlan(slot);
  return linkExists(plan.bridge) || listNetns().some((n) => n.startsWith(plan.netnsPrefix));
}

/** Slots left by testbeds whose owner is gone. */
export function staleSlots(): number[] {
  const out: number[] = [];
  for (let k = 0; k < SLOT_COUNT; k++) {
    const rec = readSlot(k);
    if (rec ? !ownerAlive(rec) : slotInUse(k)) out.push(k);
  }
  return out;
}

/** Cleans a stale slot (owner gone) and returns what it removed. */
export function reclaim(slot: number): ReturnType<typeof teardownSlot> {
  const rec = readSlot(slot);
  const state = rec ? readState(rec.stateDir) : undefined;
  return teardownSlot(slot, state?.slot === slot ? state : undefined);
}

/**
 * Claims a free slot for a testbed of `owner` whose state lives in `stateDir`; reuses the first
 * slot whose owner has died (cleaning it first). Throws when all SLOT_COUNT are in use.
 */
export function claimSlot(stateDir: string, owner: ProcessRef = self()): number {
  return withClaimLock(() => {
    const busy: string[] = [];
    for (let k = 0; k < SLOT_COUNT; k++) {
      const rec = readSlot(k);
      if (rec && ownerAlive(rec)) {
        busy.push(`${k} (pid ${rec.owner.pid}, ${rec.stateDir})`);
        continue;
      }
      if (rec || slotInUse(k)) reclaim(k);
      if (slotInUse(k)) {
        busy.push(`${k} (could not clean it)`);
        continue;
      }
      writeSlot({ slot: k, owner, stateDir, claimedAt: Date.now() });
      return k;
    }
    throw new Error(`all ${SLOT_COUNT} testbed slots are in use: ${busy.join('; ')}`);
  });
}

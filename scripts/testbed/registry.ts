/**
 * Which testbed owns which slot: one small record per claimed slot in REGISTRY_DIR (under /run, so it
 * goes away on reboot together with the namespaces and links it describes).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProcessRef } from './state.ts';
import { isSameProcessAlive } from './system.ts';

export const REGISTRY_DIR = existsSync('/run') ? '/run/dabba-testbed' : join(tmpdir(), 'dabba-testbed');

export interface SlotRecord {
  slot: number;
  owner: ProcessRef;
  stateDir: string;
  claimedAt: number;
}

export function slotFile(slot: number): string {
  return join(REGISTRY_DIR, `slot-${slot}.json`);
}

export function ensureRegistry(): void {
  mkdirSync(REGISTRY_DIR, { recursive: true, mode: 0o700 });
}

export function readSlot(slot: number): SlotRecord | undefined {
  try {
    return JSON.parse(readFileSync(slotFile(slot), 'utf8')) as SlotRecord;
  } catch {
    return undefined;
  }
}

export function writeSlot(record: SlotRecord): void {
  ensureRegistry();
  writeFileSync(slotFile(record.slot), JSON.stringify(record) + '\n');
}

/** Removes the slot's record if it is still the one of this owner (or whoever, when owner is undefined). */
export function removeSlot(slot: number, owner?: ProcessRef): void {
  const rec = readSlot(slot);
  if (owner !== undefined && rec !== undefined) {
    if (rec.owner.pid !== owner.pid || rec.owner.start !== owner.start) return;
  }
  rmSync(slotFile(slot), { force: true });
}

export function ownerAlive(rec: SlotRecord): boolean {
  return isSameProcessAlive(rec.owner.pid, rec.owner.start);
}

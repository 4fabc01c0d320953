/**
 * The state file of a testbed (`STATE_DIR/testbed.json`): everything it created, written as it goes,
 * so that `node scripts/testbed.ts down --state-dir D` can clean up after a crash.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ProcessRef {
  pid: number;
  /** From /proc/PID/stat, to tell the process from a later one that got its pid. */
  start: string;
}

export interface HostState {
  id: string;
  index: number;
  netns: string;
  veth: string;
  address: string;
  agent?: ProcessRef;
}

export interface TestbedState {
  version: 1;
  slot: number;
  /** The process that started the testbed. */
  owner: ProcessRef;
  stateDir: string;
  /** True when the testbed made stateDir (it is then removed at teardown). */
  ownsStateDir: boolean;
  serverUrl?: string;
  server?: ProcessRef;
  hosts: HostState[];
}

export const STATE_FILE = 'testbed.json';

export function writeState(state: TestbedState): void {
  const file = join(state.stateDir, STATE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2) + '\n');
  renameSync(`${file}.tmp`, file);
}

export function readState(stateDir: string): TestbedState | undefined {
  try {
    const s = JSON.parse(readFileSync(join(stateDir, STATE_FILE), 'utf8')) as TestbedState;
    return s.version === 1 && Number.isInteger(s.slot) ? s : undefined;
  } catch {
    return undefined;
  }
}

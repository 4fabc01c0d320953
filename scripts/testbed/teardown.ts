/**
 * Removes everything a testbed made: its agents and server, every process left in its network
 * namespaces (the tasks), the namespaces, the veth pairs, the bridge, its files and its slot record.
 * Synchronous, so that it also runs from a process 'exit' handler. Safe to run more than once and on
 * a testbed that was only half built or whose owner crashed.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { slotPlan } from './address-plan.ts';
import { removeSlot } from './registry.ts';
import { STATE_FILE, type ProcessRef, type TestbedState } from './state.ts';
import {
  ipQuiet,
  isSameProcessAlive,
  killQuiet,
  linkExists,
  listLinks,
  listNetns,
  netnsPids,
  sleepSync,
} from './system.ts';

/** Sub-folders of the state dir that a testbed creates (removed at teardown). */
export const STATE_SUBDIRS = ['data', 'logs', 'tmp', 'jobs'];

function killAndWait(refs: ProcessRef[], timeoutMs = 5000): void {
  const live = refs.filter((r) => isSameProcessAlive(r.pid, r.start));
  for (const r of live) killQuiet(r.pid, 'SIGKILL');
  const until = Date.now() + timeoutMs;
  while (live.some((r) => isSameProcessAlive(r.pid, r.start)) && Date.now() < until) sleepSync(10);
}

/** SIGKILLs every process in the namespace until none is left (tasks may still be forking). */
function emptyNetns(netns: string, timeoutMs = 5000): number {
  const until = Date.now() + timeoutMs;
  let killed = 0;
  for (;;) {
    const pids = netnsPids(netns).filter((p) => p !== process.pid);
    if (pids.length === 0 || Date.now() > until) return killed;
    for (const p of pids) killQuiet(p, 'SIGKILL');
    killed += pids.length;
    sleepSync(20);
  }
}

export interface TeardownReport {
  killed: number;
  netns: string[];
  links: string[];
  removed: string[];
}

/**
 * Tears down slot `slot`. `state` (when known) names the processes outside the namespaces (the
 * server) and the files to remove. Namespaces and links are found by their slot's name prefixes, so
 * this also cleans what a crashed owner had not written down yet.
 */
export function teardownSlot(slot: number, state?: TestbedState): TeardownReport {
  const plan = slotPlan(slot);
  const report: TeardownReport = { killed: 0, netns: [], links: [], removed: [] };
  const refs: ProcessRef[] = [];
  if (state?.server) refs.push(state.server);
  for (const h of state?.hosts ?? []) if (h.agent) refs.push(h.agent);
  report.killed += refs.filter((r) => isSameProcessAlive(r.pid, r.start)).length;
  killAndWait(refs);

  const namespaces = new Set(listNetns().filter((n) => n.startsWith(plan.netnsPrefix)));
  for (const h of state?.hosts ?? []) namespaces.add(h.netns);
  for (const ns of namespaces) {
    report.killed += emptyNetns(ns);
    if (ipQuiet(['netns', 'del', ns])) report.netns.push(ns);
  }
  // Deleting a namespace destroys its end of each veth pair and with it the other end; whatever is
  // left (a pair whose namespace was never made) goes here.
  for (const link of listLinks()) {
    if (link.startsWith(plan.vethPrefix) && ipQuiet(['link', 'del', link])) report.links.push(link);
  }
  if (linkExists(plan.bridge) && ipQuiet(['link', 'del', plan.bridge])) report.links.push(plan.bridge);

  if (state) {
    if (state.ownsStateDir) {
      rmSync(state.stateDir, { recursive: true, force: true });
      report.removed.push(state.stateDir);
    } else {
      for (const sub of [...STATE_SUBDIRS, STATE_FILE]) {
        rmSync(join(state.stateDir, sub), { recursive: true, force: true });
      }
      report.removed.push(`${state.stateDir}/{${[...STATE_SUBDIRS, STATE_FILE].join(',')}}`);
    }
  }
  removeSlot(slot, state?.owner);
  return report;
}

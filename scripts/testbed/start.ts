/** Starting a testbed: checking its options, claiming a slot, and waiting until every host is ready. */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MAX_HOSTS } from './address-plan.ts';
import { claimSlot, self } from './slots.ts';
import { writeState, type TestbedState } from './state.ts';
import { hostLabels, netnsUnavailable, type TestbedOptions } from './options.ts';
import { installHandlers, live } from './live.ts';
import { Testbed } from './testbed.ts';

/**
 * A testbed's network only: its slot's bridge and HOSTS namespaces with their veth pairs, no server
 * and no agents (for measuring the path itself; `exec` runs commands on a host). Call stop() when done.
 */
export function startTestbedNetwork(o: Pick<TestbedOptions, 'hosts' | 'handleSignals'>): Testbed {
  const tb = claim({ hosts: o.hosts, logLevel: 'warn', handleSignals: o.handleSignals ?? true });
  try {
    tb.makeBridge();
    for (let i = 0; i < o.hosts; i++) tb.makeHost(i, {});
  } catch (e) {
    tb.stopSync();
    throw e;
  }
  return tb;
}

/** Builds a testbed and waits until every host is ready. Call stop() when done (also on failure). */
export async function startTestbed(o: TestbedOptions): Promise<Testbed> {
  const tb = claim(o);
  try {
    tb.makeBridge();
    await tb.startServer();
    for (let i = 0; i < o.hosts; i++) tb.makeHost(i, hostLabels(i, o));
    await Promise.all(tb.hosts.map((h) => tb.startAgent(h.index)));
    await tb.waitHosts('ready', undefined, o.readyTimeoutMs ?? 30_000);
  } catch (e) {
    const logs = tb.logs(20);
    await tb.stop();
    throw new Error(`testbed did not start: ${e instanceof Error ? e.message : String(e)}\n${logs}`, {
      cause: e,
    });
  }
  return tb;
}

/** Checks the options and claims a slot: a Testbed with nothing built yet. */
function claim(o: TestbedOptions): Testbed {
  const why = netnsUnavailable();
  if (why !== undefined) throw new Error(why);
  const racks = o.racks ?? 1;
  const dcs = o.datacenters ?? 1;
  if (!Number.isInteger(o.hosts) || o.hosts < 1 || o.hosts > MAX_HOSTS) {
    throw new Error(`hosts must be 1..${MAX_HOSTS} (got ${o.hosts})`);
  }
  if (!Number.isInteger(racks) || racks < 1 || racks > o.hosts) {
    throw new Error(`racks must be 1..hosts (got ${racks})`);
  }
  if (!Number.isInteger(dcs) || dcs < 1 || dcs > racks) {
    throw new Error(`datacenters must be 1..racks (got ${dcs})`);
  }
  const ownsStateDir = o.stateDir === undefined;
  const stateDir = resolve(o.stateDir ?? mkdtempSync(join(tmpdir(), 'dabba-testbed-')));
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  mkdirSync(join(stateDir, 'tmp'), { recursive: true });
  const owner = self();
  const slot = claimSlot(stateDir, owner);
  const state: TestbedState = { version: 1, slot, owner, stateDir, ownsStateDir, hosts: [] };
  writeState(state);
  const tb = new Testbed(slot, state, {
    hostTimeout: o.hostTimeout ?? '3s',
    logLevel: o.logLevel ?? 'info',
    ...(o.meshPorts === undefined ? {} : { meshPorts: o.meshPorts }),
    containers: o.containers === true,
  });
  tb.agentArgs = o.agentArgs ?? [];
  tb.serverArgs = o.serverArgs ?? [];
  live.add(tb);
  installHandlers(o.handleSignals ?? true);
  return tb;
}

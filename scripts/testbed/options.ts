/** What a testbed is asked for (its options), what it reports of its hosts, and where it runs. */
import { join, resolve } from 'node:path';
import { runSync } from './system.ts';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const DABBA = join(REPO, 'src', 'bin', 'dabba.ts');

export interface TestbedOptions {
  /** Number of hosts (1 to MAX_HOSTS). */
  hosts: number;
  /** Racks: host i is in rack r(i mod racks). Default 1. */
  racks?: number;
  /** Datacenters: the racks are split into this many contiguous groups. Default 1. */
  datacenters?: number;
  /** Value of every host's `region` label. Default "tb". */
  region?: string;
  /** Free-form labels of host i (added to rack, datacenter and region). */
  labels?: (index: number) => Record<string, string>;
  /** The server's --host-timeout. Default "3s". */
  hostTimeout?: string;
  /** Where state, data and logs live; a new temp dir (removed at stop) when omitted. */
  stateDir?: string;
  /** DABBA_LOG_LEVEL of the server and agents (their logs are in STATE_DIR/logs). Default "info". */
  logLevel?: string;
  /** Tear down on SIGINT, SIGTERM and SIGHUP (then die of the signal). Default true. */
  handleSignals?: boolean;
  /** How long to wait for every host to be ready. Default 30 s. */
  readyTimeoutMs?: number;
  /** Extra arguments of every `dabba agent` (e.g. ['--metrics-interval', '1s']). */
  agentArgs?: string[];
  /** Every agent runs the mesh's proxy with its listeners from this port (`--mesh-ports`). */
  meshPorts?: number;
  /** Extra arguments of `dabba server` (e.g. ['--config-fanout', '2']). */
  serverArgs?: string[];
  /**
   * Every agent runs containers (`--driver oci`): it enters only its namespace's network
   * (`nsenter --net`, not `ip netns exec`, whose own /sys hides the cgroup filesystem), so its
   * cgroups, mounts and task namespaces are the machine's. Tests must remove their containers
   * (scripts/testbed/oci-sweep.ts) before stopping the testbed.
   */
  containers?: boolean;
}

export interface TestbedHost {
  id: string;
  index: number;
  /** Its network namespace (`dabba-tb-<slot>-<index>`). */
  ns: string;
  /** Bridge-side end of the host's veth pair: cutLink/restoreLink set it down/up. */
  veth: string;
  address: string;
  rack: string;
  datacenter: string;
  region: string;
  labels: Record<string, string>;
  /** Pid of the agent while it runs. */
  pid: number | undefined;
  dataDir: string;
  logFile: string;
}

export interface CliOptions {
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Why the testbed cannot run here (not root, no `ip`), or undefined when it can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'the testbed needs Linux (network namespaces)';
  if (process.getuid?.() !== 0) {
    return 'the testbed needs root (it creates network namespaces, veth pairs and a bridge); run as root, or set DABBA_SKIP_NETNS=1 to skip these tests';
  }
  if (runSync('ip', ['-V']).code !== 0) return 'the testbed needs iproute2 (`ip`) on PATH';
  return undefined;
}

/** The labels of host i: its own, then its rack, datacenter and region. */
export function hostLabels(i: number, o: TestbedOptions): Record<string, string> {
  const racks = o.racks ?? 1;
  const dcs = o.datacenters ?? 1;
  const rack = i % racks;
  const dc = Math.floor((rack * dcs) / racks);
  return {
    ...o.labels?.(i),
    rack: `r${rack}`,
    datacenter: `dc${dc}`,
    region: o.region ?? 'tb',
  };
}

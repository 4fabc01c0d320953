import type { ClientTls, DabbaClient } from '../client/index.ts';
import type { Watermark } from '../lib/index.ts';
import type { Out } from './output.ts';

/** Long-running daemons are started by bin/ (which picks the concrete store and runtime). */
export interface DevOptions {
  dataDir: string;
  host: string;
  port: number;
  driver: 'oci' | 'process' | 'auto';
  ociRuntime?: 'runc' | 'crun';
  hostTimeoutSeconds?: number;
  /** The task network hosts get their ranges from, and the size of each (prefix bits). */
  taskNetwork?: string;
  hostSubnetSize?: number;
  /** Storage watermark: free space below it is low (docs/operations.md). */
  watermark?: Watermark;
  /** Counter collection: interval (0: off) and the spool's budget (docs/telemetry.md). */
  metrics?: { intervalMs: number; spoolBytes?: number };
  /** The mesh's proxy on this host, its listeners from this port (docs/mesh.md). */
  meshPortBase?: number;
}
export interface ServerDaemonOptions {
  /** A file holding the admin token to bootstrap a fresh store with (replicas sharing one store). */
  adminTokenFile?: string;
  dataDir: string;
  host: string;
  port: number;
  store?: string;
  /** Seconds without a heartbeat before a host is down. */
  hostTimeoutSeconds?: number;
  /** HA: this replica's id, shard count, lease TTL and the URL others see it at. */
  replicaId?: string;
  shards?: number;
  leaseTtlSeconds?: number;
  advertiseUrl?: string;
  /** The task network hosts get their ranges from, and the size of each (prefix bits). */
  taskNetwork?: string;
  hostSubnetSize?: number;
  /** Serve HTTPS on loopback too; extra names for the server certificate. */
  forceTls?: boolean;
  tlsNames?: string[];
  /** Storage watermark: free space below it is low (docs/operations.md). */
  watermark?: Watermark;
  /** Config distribution trees: children per host at most (docs/config.md). */
  configFanout?: number;
}
export interface AgentDaemonOptions {
  servers: string;
  /** A join token (role agent): exchanged for the host's credential when it has none. */
  joinToken?: string;
  dataDir: string;
  hostId?: string;
  labels: Record<string, string>;
  /** Where task config directories go (default DATA_DIR/configs). */
  configDir?: string;
  driver: 'oci' | 'process' | 'auto';
  listen?: string;
  ociRuntime?: 'runc' | 'crun';
  /** The agent's task network (oci): bridge name and private subnet (default: the server's range for the host). */
  bridge?: string;
  subnet?: string;
  /** process runtime: the address this host's tasks are reachable at (default 127.0.0.1). */
  advertise?: string;
  /** What the host offers to tasks, instead of all its cores / memory. */
  cpu?: number;
  memoryBytes?: number;
  /** PEM of the cluster CA the server is verified against (`--ca`), or the pin to fetch it by. */
  caPem?: string;
  caPin?: string;
  /** Storage watermark: free space below it is low (docs/operations.md). */
  watermark?: Watermark;
  /** The image store's budget (`--image-budget`); absent: the default (see the agent command). */
  imageBudgetBytes?: number;
  /** Counter collection: interval (0: off) and the spool's budget (docs/telemetry.md). */
  metrics?: { intervalMs: number; spoolBytes?: number };
  /** The mesh's proxy on this host, its listeners from this port (docs/mesh.md). */
  meshPortBase?: number;
  /** Host history (docs/host-history.md): the time between samples, or false for none. */
  hostHistory?: false | { intervalMs: number };
}
export interface Daemon {
  url: string;
  /** Task runtime in use ("process", "oci"), empty for a server alone. */
  runtime: string;
  /** Lines to show the user once it is up (what runs where, which runtime and why). */
  notes: string[];
  /** dev and server: the admin token in the data dir (`admin.token`), when there is one. */
  adminToken?: string;
  /** The cluster CA file clients need, when the API serves HTTPS. */
  caFile?: string;
  close(): Promise<void>;
}
export interface Daemons {
  dev(o: DevOptions, signal: AbortSignal): Promise<Daemon>;
  server(o: ServerDaemonOptions, signal: AbortSignal): Promise<Daemon>;
  agent(o: AgentDaemonOptions, signal: AbortSignal): Promise<Daemon>;
}

/**
 * What `dabba dev` would use on this machine, for `dabba doctor`. Found by bin/, which may use the
 * runtime's own detection (the CLI may not import it).
 */
export interface DevProbe {
  /** The runtime `dabba dev` would choose with `--driver auto`, and why (as `dabba dev` says it). */
  runtime: { name: 'oci' | 'process'; ociRuntime?: 'runc' | 'crun'; reason: string };
  /** v2: unified at /sys/fs/cgroup; v1: per-controller hierarchies; hybrid: v1 plus a v2 mount beside. */
  cgroups: 'v1' | 'v2' | 'hybrid' | 'none';
  /** The oci task network's bridge: whether it exists yet, and its addresses. */
  bridge: { name: string; present: boolean; addresses: string[] };
  /** The per-host proxy (HAProxy): where and which version, when installed. */
  proxy: { name: 'haproxy'; path?: string; version?: string };
}

/** The process's standard streams, for commands that pass bytes through (`dabba exec -i/-t`). */
export interface CliStdio {
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

export interface CliContext {
  out: Out;
  err: Out;
  env: Record<string, string | undefined>;
  daemons: Daemons;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
  /**
   * A client for `addr` (default $DABBA_ADDR, else 127.0.0.1:7070). Inside commands it carries the
   * token and namespace the user gave and the CA (`--ca`, DABBA_CA, or stored by `dabba login`),
   * unless `o` says otherwise.
   */
  client(addr?: string, o?: ClientOverrides): DabbaClient;
  /** The CA given with the global `--ca FILE` or `DABBA_CA` (read before any command runs). */
  tls?: ClientTls;
  /** The process's standard streams (given by bin/; without them `dabba exec -i/-t` is refused). */
  stdio?: CliStdio;
  /** For `dabba doctor` (given by bin/; without it doctor reports the packages only). */
  probeDev?: () => Promise<DevProbe>;
}

/** What a command may set on its client besides the address. */
export type ClientOverrides = ClientTls & { token?: string; namespace?: string };

/** The options every command takes (before or after the command's name). */
export interface GlobalOptions {
  token?: string;
  namespace: string[];
  allNamespaces?: boolean;
}

/** The flags `dabba dev`, `dabba server` and `dabba agent` share, parsed (a bad one is a usage error), and their help. */
import { DabbaError } from '../../errors/index.ts';
import { parseDuration, parseSize, type Watermark } from '../../lib/index.ts';
import { parseTaskNetwork } from '../../model/index.ts';
import { CliError, describeError } from '../cli-error.ts';
import type { CliContext, Daemon } from '../context.ts';
import { EXIT } from '../exit-codes.ts';

export const DEFAULT_LISTEN = '127.0.0.1:7070';

export function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = Number(m?.[3]);
  if (!m || !Number.isInteger(port) || port > 65535) {
    throw new CliError(`--listen "${text}" is not HOST:PORT (for example 127.0.0.1:7070)`, EXIT.USAGE);
  }
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export function parseCapacity(
  cpu: string | undefined,
  memory: string | undefined,
): { cpu?: number; memoryBytes?: number } {
  const out: { cpu?: number; memoryBytes?: number } = {};
  if (cpu !== undefined) {
    const n = Number(cpu);
    if (!Number.isFinite(n) || n <= 0 || n > 4096)
      throw new CliError(`--cpu "${cpu}" must be a number of cores above 0`, EXIT.USAGE);
    out.cpu = n;
  }
  if (memory !== undefined) {
    const r = parseSize(memory);
    if (!r.ok || r.bytes < 1024 * 1024)
      throw new CliError(`--memory "${memory}" must be a size such as 4Gi`, EXIT.USAGE);
    out.memoryBytes = r.bytes;
  }
  return out;
}

export function parseTimeout(text: string): number {
  const r = parseDuration(text);
  if (!r.ok || r.ms < 1000 || r.ms > 3_600_000) {
    throw new CliError(`--host-timeout "${text}" must be a duration from 1s to 1h (e.g. 10s)`, EXIT.USAGE);
  }
  return Math.round(r.ms / 1000);
}

/** `--task-network` and `--host-subnet-size`, checked as the server checks them (a usage error here). */
export function parseTaskNetworkFlags(
  cidr: string | undefined,
  size: string | undefined,
): { taskNetwork?: string; hostSubnetSize?: number } {
  if (cidr === undefined && size === undefined) return {};
  const bits = size === undefined ? undefined : Number(size.replace(/^\//, ''));
  if (bits !== undefined && !Number.isInteger(bits))
    throw new CliError(`--host-subnet-size "${size}" must be a prefix length such as 24`, EXIT.USAGE);
  try {
    const n = parseTaskNetwork(cidr, bits);
    return { taskNetwork: n.cidr, hostSubnetSize: n.hostPrefix };
  } catch (e) {
    if (e instanceof DabbaError) throw new CliError(e.message, EXIT.USAGE);
    throw e;
  }
}

export const MESH_PORTS_HELP =
  "run the service mesh's proxy (HAProxy) on this host, its listeners from this port on the host's address (containers reach it at their bridge's gateway; docs/mesh.md)";

export function parseMeshPorts(v: string | undefined): { meshPortBase?: number } {
  if (v === undefined) return {};
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > 64_000)
    throw new CliError(`--mesh-ports "${v}" must be a port from 1024 to 64000`, EXIT.USAGE);
  return { meshPortBase: n };
}

/** `--min-free` and `--min-free-percent`: the storage watermark (docs/operations.md). */
export function parseWatermark(bytes: string, percent: string): { watermark: Watermark } {
  const size = parseSize(bytes);
  if (!size.ok) throw new CliError(`--min-free: ${size.error}`, EXIT.USAGE);
  const pct = Number(percent);
  if (!Number.isFinite(pct) || pct < 0 || pct > 50) {
    throw new CliError(`--min-free-percent "${percent}" must be a number from 0 to 50`, EXIT.USAGE);
  }
  return { watermark: { minFreeBytes: size.bytes, minFreePercent: pct } };
}

/** `--image-budget SIZE` (a size of at least 1Mi). */
export function parseImageBudget(text: string | undefined): { imageBudgetBytes?: number } {
  if (text === undefined) return {};
  const size = parseSize(text);
  if (!size.ok) throw new CliError(`--image-budget: ${size.error}`, EXIT.USAGE);
  if (size.bytes < 2 ** 20) throw new CliError(`--image-budget "${text}" must be at least 1Mi`, EXIT.USAGE);
  return { imageBudgetBytes: size.bytes };
}

/** `--metrics-interval` and `--metrics-spool`: counter collection (docs/telemetry.md). */
export function parseMetrics(
  interval: string,
  spool: string,
): { metrics: { intervalMs: number; spoolBytes: number } } {
  const d = interval === '0' ? { ok: true as const, ms: 0 } : parseDuration(interval);
  if (!d.ok) throw new CliError(`--metrics-interval: ${d.error}`, EXIT.USAGE);
  if (d.ms !== 0 && d.ms < 100)
    throw new CliError('--metrics-interval must be at least 100ms (or 0: off)', EXIT.USAGE);
  const size = parseSize(spool);
  if (!size.ok) throw new CliError(`--metrics-spool: ${size.error}`, EXIT.USAGE);
  if (size.bytes < 1024 * 1024) throw new CliError('--metrics-spool must be at least 1Mi', EXIT.USAGE);
  return { metrics: { intervalMs: d.ms, spoolBytes: size.bytes } };
}

/** `--host-history 5s|off`: the time between host-history samples, or none. */
export function parseHostHistory(v: string | undefined): { hostHistory?: false | { intervalMs: number } } {
  if (v === undefined) return {};
  if (v === 'off') return { hostHistory: false };
  const d = parseDuration(v);
  if (!d.ok) throw new CliError(`--host-history: ${d.error} (or off)`, EXIT.USAGE);
  if (d.ms < 1000) throw new CliError('--host-history must be at least 1s (or off)', EXIT.USAGE);
  return { hostHistory: { intervalMs: d.ms } };
}

export const HOST_HISTORY_HELP =
  'time between host-history samples (the host and its busiest processes, kept in DATA_DIR/host-history), or off';

export const METRICS_INTERVAL_HELP =
  "how often the agent collects the host's figures and its tasks' counters (0: off)";
export const METRICS_SPOOL_HELP =
  'disk budget of the spool that keeps collected batches until the server has them (oldest dropped beyond it)';

export const MIN_FREE_HELP =
  'below this much free space in the data dir, new job versions and images are refused';
export const MIN_FREE_PERCENT_HELP = 'the same, as a percentage of the file system';
export const AGENT_MIN_FREE_HELP = 'below this much free space in the data dir the host reports DiskPressure';

export const TASK_NETWORK_HELP = 'private range hosts get their task ranges from (oci; default 10.88.0.0/16)';
export const HOST_SUBNET_HELP = "prefix length of each host's task range (default 24: 254 addresses)";

export function parseDriver(text: string): 'oci' | 'process' | 'auto' {
  if (text === 'oci' || text === 'process' || text === 'auto') return text;
  throw new CliError(`--driver must be oci, process or auto (got "${text}")`, EXIT.USAGE);
}

export function parseOciRuntime(text: string | undefined): { ociRuntime?: 'runc' | 'crun' } {
  if (text === undefined) return {};
  if (text === 'runc' || text === 'crun') return { ociRuntime: text };
  throw new CliError(`--oci-runtime must be runc or crun (got "${text}")`, EXIT.USAGE);
}

export function parseLabels(list: string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const l of list) {
    const i = l.indexOf('=');
    if (i <= 0) throw new CliError(`--label "${l}" is not KEY=VALUE`, EXIT.USAGE);
    labels[l.slice(0, i)] = l.slice(i + 1);
  }
  return labels;
}

/**
 * Starts a daemon. One that cannot start (its data directory read-only or full, its store not
 * opened) exits 1, the operation failed: 5 would say that a server answered with an error. Usage
 * errors (a port already in use, a bad flag) keep 2.
 */
export async function startDaemon(start: () => Promise<Daemon>): Promise<Daemon> {
  try {
    return await start();
  } catch (e) {
    const d = describeError(e);
    if (d.exitCode === EXIT.SERVER) throw new CliError(d.message, EXIT.FAILED, { cause: e });
    throw e;
  }
}

export async function runUntilInterrupted(ctx: CliContext, daemon: Daemon): Promise<void> {
  await new Promise<void>((resolve) => {
    if (ctx.signal.aborted) resolve();
    ctx.signal.addEventListener('abort', () => resolve(), { once: true });
  });
  ctx.err.write('shutting down\n');
  await daemon.close();
}

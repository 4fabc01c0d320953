/**
 * examples/kv on the testbed: its job files (read from the example, with the testbed's controller
 * address), its controller run as a real process on the bridge (where the server and every host's
 * tasks reach it), and the replicas' own HTTP API (writes, reads, status).
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DabbaClient } from '../../src/client/index.ts';
import type { JobView, TaskRow } from '../../src/model/index.ts';
import { REPO, type Testbed } from '../../scripts/testbed/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

export const KV_DIR = join(REPO, 'examples', 'kv');
export const SHARD_JOBS = ['kv-0', 'kv-1', 'kv-2'];
export const PER_SHARD = 3;

/** The example's job file for one shard, as JSON (valid YAML), pointed at this run's controller. */
export function kvJob(job: string, o: { discovery: string; release: string; controller?: string }): string {
  const file = parse(readFileSync(join(KV_DIR, `${job}.yaml`), 'utf8')) as Record<string, unknown>;
  const task = file['task'] as Record<string, unknown>;
  task['workingDir'] = KV_DIR;
  task['env'] = {
    ...(task['env'] as Record<string, string>),
    KV_DISCOVERY: o.discovery,
    KV_RELEASE: o.release,
  };
  if (o.controller === undefined) delete file['taskControl'];
  else file['taskControl'] = { ...(file['taskControl'] as Record<string, unknown>), url: o.controller };
  return JSON.stringify(file, null, 2) + '\n';
}

export function testbedClient(tb: Testbed): DabbaClient {
  const token = tb.adminToken;
  const ca = tb.caFile;
  return new DabbaClient({
    addr: tb.url,
    timeoutMs: 15_000,
    ...(token === undefined ? {} : { token }),
    ...(ca === undefined ? {} : { ca: readFileSync(ca, 'utf8') }),
  });
}

/** One line of the controller's log. */
export interface ControllerEntry {
  at: number;
  msg: string;
  job?: string;
  task?: string;
  ids?: string[];
  [k: string]: unknown;
}

export interface KvController {
  /** Its TaskControl URL (http://GATEWAY:PORT/). */
  url: string;
  /** The replicas' discovery endpoint. */
  discovery: string;
  logFile: string;
  entries(): ControllerEntry[];
  stop(): Promise<void>;
}

/** Starts examples/kv/controller.ts on the testbed's bridge address, as an operator would. */
export async function startKvController(tb: Testbed): Promise<KvController> {
  const logFile = join(tb.stateDir, 'logs', 'kv-controller.log');
  const fd = openSync(logFile, 'a');
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env['DABBA_ADDR'] = tb.url;
  if (tb.adminToken !== undefined) env['DABBA_TOKEN'] = tb.adminToken;
  if (tb.caFile !== undefined) env['DABBA_CA'] = tb.caFile;
  const child = spawn(
    process.execPath,
    [join(KV_DIR, 'controller.ts'), '--listen', `${tb.plan.gateway}:0`, '--jobs', SHARD_JOBS.join(',')],
    { stdio: ['ignore', fd, fd], env },
  );
  closeSync(fd);
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const entries = (): ControllerEntry[] => {
    const out: ControllerEntry[] = [];
    for (const line of readFileSync(logFile, 'utf8').split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        out.push(JSON.parse(line) as ControllerEntry);
      } catch {
        // a line being written
      }
    }
    return out;
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    kill();
    await exited;
  };
  try {
    const url = await waitFor('the kv controller listening', () => {
      if (child.exitCode !== null) throw new Error(`the controller exited: ${readFileSync(logFile, 'utf8')}`);
      const e = entries().find((x) => x.msg === 'listening');
      return typeof e?.['url'] === 'string' ? e['url'] : undefined;
    });
    return { url, discovery: `${url}peers`, logFile, entries, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** A replica Dabba says serves: wanted, running, healthy and ready, with an address. */
export function isUp(t: TaskRow): boolean {
  return t.desired === 'run' && t.state === 'running' && t.healthy && t.ready && t.address !== null;
}

export function replicaUrl(t: TaskRow): string | undefined {
  const port = t.ports['http'];
  return t.address === null || port === undefined ? undefined : `http://${t.address}:${port}`;
}

export interface ReplicaStatus {
  task: string;
  job: string;
  shard: number;
  state: string;
  origin: string;
  keys: number;
}

export async function replicaStatus(t: TaskRow): Promise<ReplicaStatus | undefined> {
  const url = replicaUrl(t);
  if (url === undefined) return undefined;
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(5000) });
    return res.ok ? ((await res.json()) as ReplicaStatus) : undefined;
  } catch {
    return undefined;
  }
}

/** Every shard has its replicas, all of `version` (when given), all up. */
export async function allUp(client: DabbaClient, version?: number): Promise<Map<string, JobView>> {
  return waitFor(
    `every shard with ${PER_SHARD} replicas up${version === undefined ? '' : ` at v${version}`}`,
    async () => {
      const views = new Map<string, JobView>();
      for (const job of SHARD_JOBS) {
        const v = await client.getJob(job);
        const live = v.tasks.filter((t) => t.desired === 'run');
        const done = version === undefined || (v.version === version && v.deployment?.state === 'succeeded');
        if (!done || live.length !== PER_SHARD || !live.every(isUp)) return undefined;
        if (version !== undefined && !live.every((t) => t.version === version)) return undefined;
        views.set(job, v);
      }
      return views;
    },
    300_000,
    500,
  );
}

/** Writes `count` keys through the replicas (following 421 to the key's shard); key -> its job and value. */
export async function writeKeys(
  client: DabbaClient,
  count: number,
): Promise<Map<string, { job: string; value: string }>> {
  const out = new Map<string, { job: string; value: string }>();
  for (let i = 0; i < count; i++) {
    const key = `key-${i}`;
    const value = `value ${i} ${'x'.repeat(i)}`;
    let job = SHARD_JOBS[0] ?? '';
    const stored = await waitFor(`PUT ${key} stored on ${PER_SHARD} replicas`, async () => {
      const url = (await client.jobTasks(job)).filter(isUp).map(replicaUrl)[0];
      if (url === undefined) return undefined;
      const res = await fetch(`${url}/kv/${key}`, {
        method: 'PUT',
        body: value,
        signal: AbortSignal.timeout(5000),
      });
      const body = (await res.json()) as { shard?: number; copies?: number };
      if (res.status === 421 && body.shard !== undefined) job = `kv-${body.shard}`;
      return res.ok && body.copies === PER_SHARD ? job : undefined;
    });
    out.set(key, { job: stored, value });
  }
  return out;
}

/** Reads `key` from one replica: its value, or why not. */
export async function readFrom(url: string, key: string): Promise<{ value?: string; error?: string }> {
  try {
    const res = await fetch(`${url}/kv/${key}`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    return res.ok ? { value: text } : { error: `${res.status} ${text.trim()}` };
  } catch (e) {
    return { error: e instanceof Error ? e.message : String(e) };
  }
}

/**
 * The kv example's controller: one process for the three shard jobs (kv-0, kv-1, kv-2), written with
 * Dabba's TaskControl helper (src/sdk). Dabba asks it before every disruptive operation on a
 * replica (replace for an update, move for a drain or maintenance, restart after a host failure);
 * it allows one only while the replica's shard keeps `replicas - maxDown` replicas up (running,
 * ready, and answering that it serves the shard), and a lost replica's restart only once that
 * replica no longer answers (fenced). It is also the replicas' discovery: GET /peers?job=JOB lists
 * a shard's replicas as Dabba's API has them, so a replica that starts empty finds a peer to copy.
 *
 *   DABBA_ADDR=https://SERVER DABBA_TOKEN=... DABBA_CA=ca.crt \
 *     node examples/kv/controller.ts --listen 10.0.0.5:9700 --jobs kv-0,kv-1,kv-2
 *
 * It logs one JSON object per line on stdout: what it was told (unhealthy tasks, notices, completed
 * operations), what it allowed (ack) and what it held, and why. See README.md beside this file.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { DabbaClient } from '../../src/client/index.ts';
import type { TaskControlRequest } from '../../src/model/index.ts';
import { serveTaskControl, shardGuard } from '../../src/sdk/index.ts';
import { isUp, ReplicaView, type Replica } from './replicas.ts';

function log(msg: string, fields: Record<string, unknown> = {}): void {
  process.stdout.write(JSON.stringify({ at: Date.now(), msg, ...fields }) + '\n');
}

function fail(message: string): never {
  process.stderr.write(`kv controller: ${message}\n`);
  process.exit(2);
}

const { values } = parseArgs({
  options: {
    listen: { type: 'string', default: '127.0.0.1:9700' },
    jobs: { type: 'string', default: 'kv-0,kv-1,kv-2' },
    replicas: { type: 'string', default: '3' },
    'max-down': { type: 'string', default: '1' },
  },
});
const jobs = new Set(values.jobs.split(',').filter((j) => j !== ''));
const replicasPerShard = Number(values.replicas);
const maxDown = Number(values['max-down']);
if (!Number.isInteger(replicasPerShard) || replicasPerShard < 1)
  fail('--replicas must be a positive integer');
if (!Number.isInteger(maxDown) || maxDown < 0) fail('--max-down must be an integer from 0');
const listen = /^(.+):(\d+)$/.exec(values.listen);
if (listen === null) fail(`--listen must be HOST:PORT (got ${values.listen})`);
const addr = process.env['DABBA_ADDR'];
if (addr === undefined || addr === '') fail('set DABBA_ADDR to the Dabba server (and DABBA_TOKEN, DABBA_CA)');
const token = process.env['DABBA_TOKEN'];
const caFile = process.env['DABBA_CA'];
const client = new DabbaClient({
  addr,
  timeoutMs: 10_000,
  ...(token === undefined ? {} : { token }),
  ...(caFile === undefined ? {} : { ca: readFileSync(caFile, 'utf8') }),
});
const view = new ReplicaView(client);

// The guard decides for one request at a time (requests of the three jobs are serialized), with the
// up replicas of the request's job, just asked.
let current: { job: string; up: Set<string> } = { job: '', up: new Set() };
const guard = shardGuard({
  shardOf: () => current.job,
  upTasks: () => new Map([[current.job, current.up]]),
  replicasPerShard,
  maxDown,
});

let queue: Promise<unknown> = Promise.resolve();
function serialized<T>(fn: () => Promise<T>): Promise<T> {
  const run = queue.then(fn);
  queue = run.catch(() => undefined);
  return run;
}

const told = new Set<string>();
const lastHold = new Map<string, string>();

function news(r: TaskControlRequest): void {
  for (const u of r.unhealthy) {
    if (told.has(u.task)) continue;
    told.add(u.task);
    log('told: unhealthy', { job: r.job, task: u.task, host: u.host, reason: u.reason, since: u.since });
  }
  for (const n of r.notices) log('told: notice', { job: r.job, ...n });
  if (r.completed.length > 0) log('told: completed', { job: r.job, ids: r.completed });
}

async function decide(r: TaskControlRequest): Promise<string[]> {
  if (!jobs.has(r.job)) {
    log('hold', { job: r.job, ids: r.pending.map((p) => p.id), why: 'not one of my jobs' });
    return [];
  }
  news(r);
  if (r.pending.length === 0) return [];
  const replicas = await view.refresh(r.job);
  const byTask = new Map(replicas.map((x) => [x.task, x]));
  const up = new Set(replicas.filter(isUp).map((x) => x.task));
  current = { job: r.job, up };
  const allowed = new Set(await guard(r));
  const ack: string[] = [];
  const held: string[] = [];
  for (const p of r.pending) {
    if (!allowed.has(p.id)) {
      held.push(p.id);
      continue;
    }
    if (p.op === 'restart') {
      // Fence first: a lost replica that still answers could still take writes.
      const x = byTask.get(p.task);
      if (x?.state !== undefined) {
        held.push(p.id);
        continue;
      }
      log('fenced', {
        job: r.job,
        task: p.task,
        host: p.host,
        why: `${x?.url ?? 'its address'} does not answer`,
      });
    }
    ack.push(p.id);
  }
  if (ack.length > 0) log('ack', { job: r.job, ids: ack, up: [...up] });
  const holdKey = held.join(',');
  if (held.length > 0 && lastHold.get(r.job) !== holdKey) {
    log('hold', { job: r.job, ids: held, up: [...up], why: `shard ${r.job} has ${up.size} replicas up` });
  }
  lastHold.set(r.job, holdKey);
  return ack;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const listed = (x: Replica): Record<string, unknown> => ({
  task: x.task,
  host: x.host,
  url: x.url,
  ready: x.ready,
  state: x.state ?? 'no answer',
  keys: x.keys,
  origin: x.origin,
});

/** GET /peers?job=JOB (the replicas' discovery) and GET /status (every shard). */
function routes(req: IncomingMessage, res: ServerResponse): boolean {
  const url = new URL(req.url ?? '/', 'http://controller');
  if (req.method !== 'GET' || (url.pathname !== '/peers' && url.pathname !== '/status')) return false;
  const wanted = url.pathname === '/peers' ? [url.searchParams.get('job') ?? ''] : [...jobs];
  if (!wanted.every((j) => jobs.has(j))) {
    sendJson(res, 404, { error: `not a shard of this controller; jobs: ${[...jobs].join(', ')}` });
    return true;
  }
  Promise.all(wanted.map(async (j) => [j, await view.recent(j, 1000)] as const))
    .then((views) => {
      if (url.pathname === '/peers') {
        const replicas = (views[0]?.[1] ?? []).filter((x) => x.url !== undefined);
        return sendJson(res, 200, { job: wanted[0], replicas: replicas.map(listed) });
      }
      sendJson(res, 200, { jobs: Object.fromEntries(views.map(([j, xs]) => [j, xs.map(listed)])) });
    })
    .catch((e: unknown) => sendJson(res, 503, { error: e instanceof Error ? e.message : String(e) }));
  return true;
}

const controller = await serveTaskControl(
  (r) =>
    serialized(() => decide(r)).catch((e: unknown) => {
      log('error', { job: r.job, error: e instanceof Error ? e.message : String(e) });
      throw e;
    }),
  { host: listen[1] ?? '127.0.0.1', port: Number(listen[2]), routes },
);
log('listening', { url: controller.url, jobs: [...jobs], replicasPerShard, maxDown });

for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    log('stopping', { signal: sig });
    void controller.close().then(() => process.exit(0));
  });
}

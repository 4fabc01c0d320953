/**
 * The mesh's stats from a real HAProxy: per upstream and per task, requests and responses by class
 * (HAProxy's counters), a task answering 500s ejected and counted, requests refused after waiting
 * in the queue (queue timeout) told apart from requests that timed out at the task, and the latency
 * histogram from the access log; the same as samples for the telemetry store.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { type HostMeshStats, type ServiceEndpoint } from '../../src/model/index.ts';
import { parseMeshFile } from '../../src/model/files.ts';
import {
  AccessLogTail,
  ProxySupervisor,
  meshSamples,
  proxyLayout,
  proxyServers,
  readProxyStats,
  upstreamEnv,
  type ProxyLayout,
} from '../../src/mesh/host/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { freePortBlock } from '../helpers/ports.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

async function serve(handler: Handler): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

function get(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 30_000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

// Proxy ports below the ephemeral range, checked free (test/helpers/ports.ts).
const BASE = await freePortBlock(64);
const FILE = `services:
  front:
    upstreams:
      back: {}
      slow: {}
      stuck: { timeout: 300ms, retries: { max: 0, perTryTimeout: 300ms } }
  back: {}
  slow:
    inbound: { maxConcurrency: 1, queueTimeout: 100ms }
  stuck: {}
`;

const ep = (task: string, port: number): ServiceEndpoint => ({
  task,
  host: 'h1',
  address: '127.0.0.1',
  ports: { http: port },
  version: 1,
});

describe('mesh stats (real HAProxy)', () => {
  let dir: string;
  let proxy: ProxySupervisor;
  let layout: ProxyLayout;
  let tail: AccessLogTail;
  const servers: Server[] = [];
  const held: ServerResponse[] = [];
  let heldSeen = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-mesh-stats-'));
    const ok = await serve((_q, res) => res.end('ok'));
    const bad = await serve((_q, res) => {
      res.writeHead(500);
      res.end('bad');
    });
    // Holds every request until the test lets it go.
    const slow = await serve((_q, res) => {
      heldSeen++;
      held.push(res);
    });
    const stuck = await serve((_q, res) => void held.push(res));
    servers.push(ok.server, bad.server, slow.server, stuck.server);
    const r = parseMeshFile(FILE, 'deps.yaml');
    assert.ok(r.ok);
    layout = proxyLayout(r.config, '127.0.0.1', BASE);
    proxy = new ProxySupervisor({ dir, logger: silentLogger });
    await proxy.apply(
      layout,
      proxyServers(layout, {
        back: [ep('back-ok', ok.port), ep('back-bad', bad.port)],
        slow: [ep('slow-1', slow.port)],
        stuck: [ep('stuck-1', stuck.port)],
      }),
    );
    tail = new AccessLogTail(proxy.logPath);
    await tail.catchUp();
  });
  after(async () => {
    try {
      for (const res of held) res.destroy();
      await proxy.stop();
    } finally {
      for (const s of servers) s.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  const stats = async (): Promise<HostMeshStats> => {
    await tail.catchUp();
    return readProxyStats(proxy.socket, layout.routes, tail.counts, 'h1', Date.now());
  };
  const url = (upstream: string): string =>
    upstreamEnv(layout, 'front')[`DABBA_UPSTREAM_${upstream.toUpperCase()}`] ?? '';

  test('requests and responses by class per upstream and per task; a task answering 500s is ejected', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push(await get(`${url('back')}/`));
    const fives = statuses.filter((s) => s === 500).length;
    assert.ok(fives >= 5, `the bad task answered ${String(fives)} times before it was ejected`);
    const s = await waitFor('40 requests in the access log', async () => {
      const now = await stats();
      return now.upstreams.find((u) => u.upstream === 'back')?.latency.count === 40 ? now : undefined;
    });
    const up = s.upstreams.find((u) => u.caller === 'front' && u.upstream === 'back');
    assert.ok(up);
    assert.equal(up.requests, 40);
    assert.equal(up.responses['2xx'], 40 - fives);
    assert.equal(up.responses['5xx'], fives);
    const okTask = s.tasks.find((t) => t.task === 'back-ok');
    const badTask = s.tasks.find((t) => t.task === 'back-bad');
    assert.equal(okTask?.requests, 40 - fives);
    assert.equal(badTask?.requests, fives);
    assert.equal(badTask?.responses['5xx'], fives);
    assert.ok((badTask?.ejections ?? 0) >= 1, 'ejected after 5 consecutive 5xx');
    assert.equal(up.ejections, badTask?.ejections);
    assert.equal(
      up.latency.buckets.reduce((a, b) => a + b, 0),
      40,
      'every request is in one bucket of the histogram',
    );
    assert.equal(up.timeouts + up.queueTimeouts, 0);
  });

  test('a request refused after its queue timeout is a queue timeout, not a timeout', async () => {
    const first = get(`${url('slow')}/`);
    await waitFor('the first request held by the task', () => heldSeen === 1);
    // The task's one slot is taken: these two wait in the queue and get 503 after 100 ms.
    const queued = await Promise.all([get(`${url('slow')}/`), get(`${url('slow')}/`)]);
    assert.deepEqual(queued, [503, 503]);
    held.shift()?.end('done');
    assert.equal(await first, 200);
    const s = await waitFor('3 requests to slow in the log', async () => {
      const now = await stats();
      return now.upstreams.find((u) => u.upstream === 'slow')?.latency.count === 3 ? now : undefined;
    });
    const up = s.upstreams.find((u) => u.upstream === 'slow');
    assert.equal(up?.requests, 3);
    assert.equal(up?.queueTimeouts, 2);
    assert.equal(up?.timeouts, 0);
    assert.equal(up?.connectErrors, 0, 'queue timeouts are not counted as connect errors');
    assert.deepEqual(up?.responses, { '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 2, other: 0 });
    assert.equal(s.tasks.find((t) => t.task === 'slow-1')?.requests, 1, 'the refused ones never reached it');
  });

  test('a task that does not answer within the per-try timeout: a timeout (504)', async () => {
    assert.equal(await get(`${url('stuck')}/`), 504);
    const s = await waitFor('the request to stuck in the log', async () => {
      const now = await stats();
      return now.upstreams.find((u) => u.upstream === 'stuck')?.latency.count === 1 ? now : undefined;
    });
    const up = s.upstreams.find((u) => u.upstream === 'stuck');
    assert.equal(up?.timeouts, 1);
    assert.equal(up?.queueTimeouts, 0);
    assert.equal(up?.responses['5xx'], 1);
    assert.ok(
      (up?.latency.maxMs ?? 0) >= 300,
      `it waited the per-try timeout (${String(up?.latency.maxMs)} ms)`,
    );
    const task = s.tasks.find((t) => t.task === 'stuck-1');
    assert.equal(task?.timeouts, 1);
  });

  test('as samples: counters per upstream and task, the histogram cumulative up to +Inf', async () => {
    const samples = meshSamples(await stats());
    const one = (name: string, labels: Record<string, string>): number | undefined =>
      samples.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))
        ?.value;
    assert.equal(one('mesh_upstream_requests_total', { caller: 'front', upstream: 'back' }), 40);
    assert.equal(one('mesh_task_requests_total', { upstream: 'slow', task: 'slow-1' }), 1);
    assert.equal(one('mesh_upstream_queue_timeouts_total', { upstream: 'slow' }), 2);
    assert.equal(one('mesh_upstream_responses_total', { upstream: 'slow', class: '5xx' }), 2);
    assert.equal(
      one('mesh_upstream_latency_seconds_bucket', { upstream: 'back', le: '+Inf' }),
      one('mesh_upstream_latency_seconds_count', { upstream: 'back' }),
    );
    const buckets = samples.filter(
      (x) => x.name === 'mesh_upstream_latency_seconds_bucket' && x.labels['upstream'] === 'back',
    );
    for (let i = 1; i < buckets.length; i++)
      assert.ok((buckets[i]?.value ?? 0) >= (buckets[i - 1]?.value ?? 0), 'cumulative');
    assert.ok(
      samples.every((x) => x.labels['namespace'] === 'default' && x.labels['job'] === x.labels['upstream']),
    );
  });
});

/**
 * The host's proxy with a real HAProxy: the rendered config passes `haproxy -c`; a caller reaches
 * its upstream by the port in DABBA_UPSTREAM_<NAME> and by Host header, and gets 403 for an upstream
 * it did not declare; requests spread over every endpoint; endpoints come and go through the runtime
 * API with neither the master's nor the worker's pid changing (no reload); X-Request-Id is added or
 * kept and traceparent passes; a killed HAProxy is started again; a new supervisor adopts the
 * running one; a structure change (mesh apply) reloads it with the master's pid kept.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { silentLogger } from '../../src/lib/index.ts';
import { type MeshConfig, type ServiceEndpoint } from '../../src/model/index.ts';
import { parseMeshFile } from '../../src/model/files.ts';
import {
  ProxySupervisor,
  proxyLayout,
  proxyServers,
  runtimeCommand,
  upstreamEnv,
  type ProxyLayout,
} from '../../src/mesh/host/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { freePortBlock } from '../helpers/ports.ts';

interface Backend {
  id: string;
  server: Server;
  port: number;
  seen: { requestId: string | undefined; traceparent: string | undefined }[];
}

async function backend(id: string, status = 200): Promise<Backend> {
  const seen: Backend['seen'] = [];
  const server = createServer((req, res) => {
    seen.push({
      requestId: req.headers['x-request-id'] as string | undefined,
      traceparent: req.headers['traceparent'] as string | undefined,
    });
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(id);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { id, server, port: (server.address() as AddressInfo).port, seen };
}

// Proxy ports below the ephemeral range, checked free (test/helpers/ports.ts).
const BASE = await freePortBlock(64);
const INGRESS_PORT = BASE + 40;

function config(connectTimeout: string): MeshConfig {
  const r = parseMeshFile(
    `services:\n  front:\n    upstreams:\n      back: { connectTimeout: ${connectTimeout} }\n  back:\n    expose: ${String(INGRESS_PORT)}\n  cache:\n`,
    'deps.yaml',
  );
  assert.ok(r.ok);
  return r.config;
}

const endpoint = (b: Backend): ServiceEndpoint => ({
  task: b.id,
  host: 'h1',
  address: '127.0.0.1',
  ports: { http: b.port },
  version: 1,
});

/** A GET with node:http (fetch does not let a request set its Host header). */
function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function workerPid(p: ProxySupervisor): Promise<string | undefined> {
  return /^Pid: (\d+)/m.exec(await runtimeCommand(p.socket, 'show info'))?.[1];
}

describe('the host proxy (real HAProxy)', () => {
  let dir: string;
  let proxy: ProxySupervisor;
  let layout: ProxyLayout;
  const backs: Backend[] = [];
  const base = BASE;
  const ac = new AbortController();
  let supervising: Promise<void> | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-mesh-proxy-'));
    for (const id of ['back-aaaaa', 'back-bbbbb', 'back-ccccc']) backs.push(await backend(id));
    proxy = new ProxySupervisor({ dir, logger: silentLogger });
    layout = proxyLayout(config('250ms'), '127.0.0.1', base);
    await proxy.apply(layout);
    await proxy.sync(proxyServers(layout, { back: backs.map(endpoint) }));
  });
  after(async () => {
    ac.abort();
    await supervising;
    try {
      await proxy.stop();
    } finally {
      for (const b of backs) b.server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('front reaches back by its variable and by Host; an undeclared upstream gets 403; requests spread', async () => {
    const env = upstreamEnv(layout, 'front');
    const url = env['DABBA_UPSTREAM_BACK'];
    assert.equal(url, `http://127.0.0.1:${String(base + 2)}`); // base: the inbound side; base + 1: front's Host port
    assert.equal(upstreamEnv(layout, 'back')['DABBA_UPSTREAM_FRONT'], undefined);
    const hits = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const r = await get(`${url ?? ''}/`);
      assert.equal(r.status, 200);
      hits.set(r.body, (hits.get(r.body) ?? 0) + 1);
    }
    assert.deepEqual([...hits.keys()].sort(), backs.map((b) => b.id).sort());
    const mesh = env['DABBA_MESH'] ?? '';
    assert.equal((await get(`${mesh}/`, { host: 'back' })).status, 200);
    const refused = await get(`${mesh}/`, { host: 'cache' });
    assert.equal(refused.status, 403);
  });

  test('ingress: an exposed service is reached on its port of the host, over its tasks', async () => {
    const hits = new Set<string>();
    for (let i = 0; i < 30; i++) hits.add((await get(`http://127.0.0.1:${String(INGRESS_PORT)}/`)).body);
    assert.deepEqual([...hits].sort(), backs.map((b) => b.id).sort());
  });

  test('X-Request-Id is added when missing and kept when present; traceparent passes through', async () => {
    const url = upstreamEnv(layout, 'front')['DABBA_UPSTREAM_BACK'] ?? '';
    for (const b of backs) b.seen.length = 0;
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await get(`${url}/`, { 'x-request-id': 'given-id-1', traceparent: tp });
    await get(`${url}/`);
    const seen = backs.flatMap((b) => b.seen);
    assert.equal(seen.length, 2);
    assert.ok(seen.some((s) => s.requestId === 'given-id-1' && s.traceparent === tp));
    const added = seen.find((s) => s.requestId !== 'given-id-1');
    assert.match(added?.requestId ?? '', /^[0-9a-f-]{36}$/);
  });

  test('endpoints change through the runtime API: no reload, same master and worker', async () => {
    const url = upstreamEnv(layout, 'front')['DABBA_UPSTREAM_BACK'] ?? '';
    const master = proxy.pid;
    const worker = await workerPid(proxy);
    const fresh = await backend('back-ddddd');
    backs.push(fresh);
    // A rolling step: one task leaves, a new one arrives.
    const now = [backs[1], backs[2], fresh].filter((b): b is Backend => b !== undefined);
    await proxy.sync(proxyServers(layout, { back: now.map(endpoint) }));
    const hits = new Set<string>();
    for (let i = 0; i < 60; i++) hits.add((await get(`${url}/`)).body);
    assert.deepEqual([...hits].sort(), now.map((b) => b.id).sort());
    assert.equal(proxy.pid, master);
    assert.equal(await workerPid(proxy), worker);
    const state = await runtimeCommand(proxy.socket, 'show servers state be_front__back');
    assert.doesNotMatch(state, /back-aaaaa/);
  });

  test('a killed HAProxy is started again, with its servers; a new supervisor adopts it', async () => {
    const url = upstreamEnv(layout, 'front')['DABBA_UPSTREAM_BACK'] ?? '';
    supervising = proxy.supervise(ac.signal, 200);
    const old = proxy.pid;
    assert.ok(old !== undefined);
    process.kill(old, 'SIGKILL');
    await waitFor(
      'a new HAProxy',
      () => proxy.pid !== undefined && proxy.pid !== old && proxy.restarts > 0,
      30_000,
    );
    await waitFor('requests through the new one', async () => (await get(`${url}/`)).status === 200, 30_000);
    ac.abort();
    await supervising;
    const adopter = new ProxySupervisor({ dir, logger: silentLogger });
    await adopter.apply(layout);
    assert.equal(adopter.pid, proxy.pid);
  });

  test('a structure change (a new connect timeout) validates and reloads, keeping the master pid', async () => {
    const master = proxy.pid;
    const worker = await workerPid(proxy);
    const next = proxyLayout(config('500ms'), '127.0.0.1', base);
    await proxy.apply(next);
    layout = next;
    assert.equal(proxy.pid, master);
    assert.notEqual(await workerPid(proxy), worker);
    // The new worker starts with the servers of the last sync (no 503 until they are added again).
    const cfg = await readFile(proxy.configPath, 'utf8');
    const listed = [...cfg.matchAll(/^ {2}server (\S+) /gm)].map((m) => m[1]);
    assert.ok(listed.length >= 3, `servers listed in the reloaded config: ${listed.join(', ')}`);
    assert.match(cfg, /^# structure [0-9a-f]{32}$/m);
    const url = upstreamEnv(layout, 'front')['DABBA_UPSTREAM_BACK'] ?? '';
    assert.equal((await get(`${url}/`)).status, 200);
    await assert.rejects(proxy.validate('frontend x\n  bind :notaport\n'), /invalid/);
  });
});

/**
 * The inbound hop with two real HAProxies, as two hosts' proxies on one machine (host A on
 * 127.0.0.1, host B on 127.0.0.2, each with a host certificate from one cluster CA): front on A
 * reaches back's task on B through A's proxy then B's inbound side (mutual TLS), and back's task on
 * A directly; B's inbound side applies back's queue limit (503 after the queue timeout while the
 * task's one slot is taken); a caller the dependency file does not let call back gets 403 from B's
 * inbound side too, counted per caller; a connection without a client certificate, or with one from
 * another CA, is refused.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createClusterCa, issueHostKeyAndCertificate, openClusterCa } from '../../src/auth/pki/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { type ServiceEndpoint } from '../../src/model/index.ts';
import { parseMeshFile } from '../../src/model/files.ts';
import {
  AccessLogTail,
  ProxySupervisor,
  proxyLayout,
  proxyServers,
  readProxyStats,
  upstreamEnv,
  writeInboundTls,
  type ProxyLayout,
} from '../../src/mesh/host/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { freePortBlock } from '../helpers/ports.ts';

const A = '127.0.0.1';
const B = '127.0.0.2';
const BASE = await freePortBlock(16, B);

const FILE = [
  'services:',
  '  front:',
  '    upstreams:',
  '      back: { retries: { max: 0 } }',
  '  back:',
  '    inbound: { maxConcurrency: 1, queueTimeout: 100ms }',
  '  cache:',
  '',
].join('\n');

interface Task {
  server: Server;
  port: number;
  callers: string[];
}

async function task(
  id: string,
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Task> {
  const callers: string[] = [];
  const server = createServer((req, res) => {
    callers.push(String(req.headers['x-dabba-caller']));
    if (handler !== undefined) return handler(req, res);
    res.end(id);
  });
  await new Promise<void>((r) => server.listen(0, A, r));
  return { server, port: (server.address() as AddressInfo).port, callers };
}

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { timeout: 15_000 }, (res) => {
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

/** A request straight to B's inbound side, as another host's proxy would send it (or not). */
function inbound(
  headers: Record<string, string>,
  tls: { ca: string; cert?: string; key?: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: B, port: BASE, path: '/', headers, timeout: 15_000, ...tls }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('the inbound request timed out')));
    req.on('error', reject);
    req.end();
  });
}

describe('the inbound hop between two hosts’ proxies (mutual TLS)', () => {
  const dirs: string[] = [];
  const tasks: Task[] = [];
  const held: ServerResponse[] = [];
  let ca: { certPem: string; keyPem: string };
  let client: { cert: string; key: string };
  let proxyA: ProxySupervisor;
  let proxyB: ProxySupervisor;
  let layoutA: ProxyLayout;
  let layoutB: ProxyLayout;
  let tailB: AccessLogTail;
  let slowSeen = 0;

  before(async () => {
    ca = await createClusterCa();
    const cluster = openClusterCa(ca.certPem, ca.keyPem);
    const r = parseMeshFile(FILE, 'deps.yaml');
    assert.ok(r.ok);
    const hosts = { 'host-a': A, 'host-b': B };
    const onA = await task('back-a1');
    const onB = await task('back-b1');
    tasks.push(onA, onB);
    const ep = (t: string, host: string, port: number): ServiceEndpoint => ({
      task: t,
      host,
      address: A,
      ports: { http: port },
      version: 1,
    });
    const endpoints = { back: [ep('back-a1', 'host-a', onA.port), ep('back-b1', 'host-b', onB.port)] };
    const proxies: ProxySupervisor[] = [];
    const layouts: ProxyLayout[] = [];
    for (const [host, address] of Object.entries(hosts)) {
      const dir = await mkdtemp(join(tmpdir(), `dabba-mesh-inbound-${host}-`));
      dirs.push(dir);
      const cert = await issueHostKeyAndCertificate(cluster, { hostId: host, address });
      if (host === 'host-a') client = { cert: cert.certPem, key: cert.keyPem };
      const tls = await writeInboundTls(dir, {
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        caPem: ca.certPem,
      });
      const layout = proxyLayout(r.config, address, BASE, tls);
      const proxy = new ProxySupervisor({ dir, logger: silentLogger });
      await proxy.apply(layout, proxyServers(layout, endpoints, { host, hosts }));
      proxies.push(proxy);
      layouts.push(layout);
    }
    [proxyA, proxyB] = proxies as [ProxySupervisor, ProxySupervisor];
    [layoutA, layoutB] = layouts as [ProxyLayout, ProxyLayout];
    tailB = new AccessLogTail(proxyB.logPath);
    await tailB.catchUp();
  });
  after(async () => {
    try {
      for (const res of held) res.destroy();
      await Promise.all([proxyA?.stop(), proxyB?.stop()]);
    } finally {
      for (const t of tasks) t.server.close();
      await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
    }
  });

  const statsB = async () => {
    await tailB.catchUp();
    return readProxyStats(proxyB.socket, layoutB.routes, tailB.counts, 'host-b', Date.now(), {
      ...(layoutB.inbound === undefined ? {} : { inbound: layoutB.inbound.services }),
      denied: tailB.denied,
    });
  };

  test("front on A reaches back's task on B through B's inbound side, and back's task on A directly", async () => {
    const url = upstreamEnv(layoutA, 'front')['DABBA_UPSTREAM_BACK'] ?? '';
    assert.match(url, new RegExp(`^http://${A}:`));
    const seen = new Set<string>();
    await waitFor(
      'calls from front on A reaching both back tasks',
      async () => {
        const r = await get(url);
        assert.equal(r.status, 200, r.body);
        seen.add(r.body);
        return seen.has('back-a1') && seen.has('back-b1');
      },
      60_000,
      20,
    );
    // Both tasks were told who called, by the proxies (never by the calling task).
    assert.ok(tasks.every((t) => t.callers.length > 0 && t.callers.every((c) => c === 'front')));
    const s = await waitFor('B counting the inbound calls to back-b1', async () => {
      const now = await statsB();
      return (now.tasks.find((t) => t.caller === '_inbound' && t.task === 'back-b1')?.requests ?? 0) > 0
        ? now
        : undefined;
    });
    assert.equal(
      s.tasks.some((t) => t.task === 'back-a1'),
      false,
      "B's inbound side lists only B's tasks",
    );
  });

  test('an undeclared caller gets 403 from the inbound side, counted per caller', async () => {
    const opts = { ca: ca.certPem, ...client };
    const ok = await inbound({ 'x-dabba-caller': 'front', 'x-dabba-upstream': 'back' }, opts);
    assert.equal(ok.status, 200, ok.body);
    assert.equal(ok.body, 'back-b1');
    const denied = await inbound({ 'x-dabba-caller': 'cache', 'x-dabba-upstream': 'back' }, opts);
    assert.equal(denied.status, 403);
    const nobody = await inbound({ 'x-dabba-upstream': 'back' }, opts);
    assert.equal(nobody.status, 403);
    await waitFor('the 403 counted for cache on the inbound side', async () => {
      const s = await statsB();
      return s.denied?.some(
        (d) => d.caller === 'cache' && d.upstream === 'back' && d.side === 'inbound' && d.count === 1,
      );
    });
  });

  test('a connection without a client certificate, or with one from another CA, is refused', async () => {
    await assert.rejects(
      inbound({ 'x-dabba-caller': 'front', 'x-dabba-upstream': 'back' }, { ca: ca.certPem }),
    );
    const otherCa = await createClusterCa();
    const other = openClusterCa(otherCa.certPem, otherCa.keyPem);
    const stranger = await issueHostKeyAndCertificate(other, { hostId: 'host-a', address: A });
    await assert.rejects(
      inbound(
        { 'x-dabba-caller': 'front', 'x-dabba-upstream': 'back' },
        { ca: ca.certPem, cert: stranger.certPem, key: stranger.keyPem },
      ),
    );
  });

  test("B's inbound side applies back's queue limit: 503 once the task's one slot stays taken past the queue timeout", async () => {
    // back-b1 now holds every request until the test lets it go.
    const b1 = tasks[1];
    assert.ok(b1);
    b1.server.removeAllListeners('request');
    b1.server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
      slowSeen++;
      held.push(res);
    });
    const opts = { ca: ca.certPem, ...client };
    const headers = { 'x-dabba-caller': 'front', 'x-dabba-upstream': 'back' };
    const first = inbound(headers, opts);
    await waitFor('the first request at the task', () => Promise.resolve(slowSeen === 1));
    const second = await inbound(headers, opts);
    assert.equal(second.status, 503, second.body);
    for (const res of held.splice(0)) res.end('released');
    assert.equal((await first).status, 200);
    const s = await waitFor('the queue timeout counted', async () => {
      const now = await statsB();
      return (now.upstreams.find((u) => u.caller === '_inbound' && u.upstream === 'back')?.queueTimeouts ??
        0) > 0
        ? now
        : undefined;
    });
    assert.ok(s);
  });
});

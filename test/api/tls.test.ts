/**
 * TLS and host identity over real TLS on loopback, with real certificates: the API on HTTPS (forced
 * on loopback), clients with and without the cluster CA, host certificates as client identity, an
 * agent that registers, heartbeats and serves logs over TLS, and the CA kept across restarts and
 * shared by replicas on one store.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { connect } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Agent } from 'undici';
import { hostCsr, saveHostCertificate, startAgent } from '../../src/agent/index.ts';
import {
  createClusterCa,
  hostCertificateRecord,
  hostIdentityFromRequest,
  issueAndRecordHostCertificate,
  issueHostKeyAndCertificate,
  openClusterCa,
} from '../../src/auth/index.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { keys, type HostRecord } from '../../src/model/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { startServer } from '../../src/server/index.ts';
import { getJson, putJson, SqliteStore } from '../../src/store/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';

const CAPACITY = { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 };

async function get(url: string, connect: Record<string, string>): Promise<unknown> {
  const dispatcher = new Agent({ connect });
  try {
    const res = await fetch(url, { dispatcher } as unknown as RequestInit);
    return await res.json();
  } finally {
    await dispatcher.close();
  }
}

describe('HTTPS API and host identity', () => {
  let t: TestServer;
  let dataDir: string;
  let caPem: string;
  const closers: (() => Promise<void>)[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'dabba-tls-data-'));
    t = await startTestServer('tls', { forceTls: true, dataDir });
    caPem = t.server.pki.ca.certPem;
  });
  after(async () => {
    for (const c of closers.reverse()) await c().catch(() => undefined);
    await t.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('serves HTTPS with a certificate of the CA it wrote to its data dir', async () => {
    assert.match(t.server.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(await readFile(join(dataDir, 'ca.crt'), 'utf8'), caPem);
    const health = await new DabbaClient({ addr: t.server.url, ca: caPem }).health();
    assert.equal(health.ok, true);
  });

  test('a client without the CA, or with another CA, is refused with what to fix', async () => {
    await assert.rejects(
      new DabbaClient({ addr: t.server.url, timeoutMs: 5000 }).health(),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_TLS' && /--ca FILE/.test(e.message),
    );
    const other = await createClusterCa();
    await assert.rejects(
      new DabbaClient({ addr: t.server.url, ca: other.certPem, timeoutMs: 5000 }).health(),
      (e) =>
        e instanceof DabbaError && e.code === 'DABBA_E_TLS' && /not the one this server uses/.test(e.message),
    );
  });

  test('the CLI says how to fix a missing CA, and works with --ca or DABBA_CA', async () => {
    const refused = await cli(['status', '--addr', t.server.url], { timeoutMs: 60_000 });
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /not trusted .*--ca FILE or DABBA_CA=FILE.*dabba login --ca/);
    const caFile = join(dataDir, 'ca.crt');
    const withFlag = await cli(['--ca', caFile, 'status', '--addr', t.server.url], { timeoutMs: 60_000 });
    assert.equal(withFlag.code, 0, withFlag.stderr);
    const withEnv = await cli(['status', '--addr', t.server.url], {
      timeoutMs: 60_000,
      env: { DABBA_CA: caFile },
    });
    assert.equal(withEnv.code, 0, withEnv.stderr);
    const missing = await cli(['status', '--ca', join(dataDir, 'nope.crt'), '--addr', t.server.url]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--ca .*nope\.crt: cannot read it \(ENOENT\)/);
  });

  test('hostIdentityFromRequest: a host certificate of the cluster CA only', async () => {
    const ca = t.server.pki.ca;
    const server = createHttpsServer(
      {
        cert: t.server.pki.identity.certPem,
        key: t.server.pki.identity.keyPem,
        ca: ca.certPem,
        requestCert: true,
        rejectUnauthorized: false,
      },
      (req, res) => res.end(JSON.stringify(hostIdentityFromRequest(req) ?? null)),
    );
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    closers.push(() => new Promise((r) => server.close(() => r())));
    const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    const host = await issueHostKeyAndCertificate(ca, { hostId: 'web-1', address: '10.9.8.7' });
    assert.deepEqual(await get(url, { ca: ca.certPem, cert: host.certPem, key: host.keyPem }), {
      hostId: 'web-1',
      address: '10.9.8.7',
    });
    const foreign = await createClusterCa();
    const foreignHost = await issueHostKeyAndCertificate(openClusterCa(foreign.certPem, foreign.keyPem), {
      hostId: 'web-1',
      address: '10.9.8.7',
    });
    assert.equal(
      await get(url, { ca: ca.certPem, cert: foreignHost.certPem, key: foreignHost.keyPem }),
      null,
    );
    // Self-signed: the foreign CA's own certificate and key, presented as a client certificate.
    assert.equal(await get(url, { ca: ca.certPem, cert: foreign.certPem, key: foreign.keyPem }), null);
    // The server's own certificate is of the cluster CA but is no host identity.
    assert.equal(
      await get(url, {
        ca: ca.certPem,
        cert: t.server.pki.identity.certPem,
        key: t.server.pki.identity.keyPem,
      }),
      null,
    );
    assert.equal(await get(url, { ca: ca.certPem }), null);
  });

  test('a join with a CSR gets a host certificate; with it the host is authenticated as itself, and only as itself', async () => {
    const dir = join(dataDir, 'joined');
    const joinToken = (await t.client.createToken({ name: 'tls-join', role: 'agent' })).token;
    const r = await new DabbaClient({ addr: t.server.url, ca: caPem, token: joinToken }).join('j1', {
      csr: await hostCsr(dir, 'j1'),
    });
    assert.ok(r.hostCertificate, 'the answer carries a certificate');
    // The address the server saw the join come from.
    assert.equal(r.hostCertificate.address, '127.0.0.1');
    const creds = await saveHostCertificate(dir, r.hostCertificate);
    assert.equal(creds.hostId, 'j1');
    const asHost = new DabbaClient({ addr: t.server.url, ca: caPem, cert: creds.certPem, key: creds.keyPem });
    assert.deepEqual(await asHost.whoami(), { kind: 'host', hostId: 'j1', via: 'certificate' });
    // The certificate decides even beside another's bearer token.
    assert.deepEqual(await asHost.with({ token: t.adminToken }).whoami(), {
      kind: 'host',
      hostId: 'j1',
      via: 'certificate',
    });
    await asHost.heartbeat('j1', 30).catch((e: unknown) => {
      // Not registered yet: anything but a refusal of who it is.
      assert.ok(e instanceof DabbaError && e.code !== 'DABBA_E_FORBIDDEN', String(e));
    });
    await assert.rejects(
      asHost.heartbeat('other', 30),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_FORBIDDEN',
    );
    await assert.rejects(asHost.listJobs(), (e) => e instanceof DabbaError && e.code === 'DABBA_E_FORBIDDEN');
    // The join records the address the server will reach the agent at.
    assert.equal((await hostCertificateRecord(t.store, 'j1'))?.address, '127.0.0.1');
  });

  test('offers HTTP/2 by ALPN: one connection carries a host-certificate request, a token request and a held stream', async () => {
    const host = await issueHostKeyAndCertificate(t.server.pki.ca, {
      hostId: 'h2-host',
      address: '127.0.0.1',
    });
    const session = connect(t.server.url, { ca: caPem, cert: host.certPem, key: host.keyPem });
    session.on('error', () => undefined);
    closers.push(async () => {
      session.destroy();
      await Promise.resolve();
    });
    await once(session, 'connect');
    assert.equal(session.alpnProtocol, 'h2');
    const ask = (
      path: string,
      headers: Record<string, string> = {},
    ): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': path, ...headers });
        let status = 0;
        let body = '';
        req.setEncoding('utf8');
        req.on('response', (h) => (status = Number(h[':status'])));
        req.on('data', (c: string) => (body += c));
        req.on('end', () => resolve({ status, body }));
        req.on('error', reject);
        req.end();
      });
    // The client certificate, read from the TLS socket under the HTTP/2 session.
    const who = await ask('/v1/whoami');
    assert.equal(who.status, 200);
    assert.deepEqual(JSON.parse(who.body), { kind: 'host', hostId: 'h2-host', via: 'certificate' });
    assert.equal((await ask('/v1/jobs')).status, 403);
    // A held server-sent stream (a config shard's metadata, the host's own) on the same connection.
    const meta = session.request({
      ':path': '/v1/configdist/shards/0/hosts/h2-host/meta',
    });
    meta.setEncoding('utf8');
    let seen = '';
    meta.on('data', (c: string) => (seen += c));
    meta.on('error', () => undefined);
    await waitFor('the metadata snapshot over HTTP/2', () => seen.includes('event: snapshot'), 60_000);
    assert.equal(session.closed, false);
    meta.close();
    // HTTP/1.1 clients are still served on the same port.
    assert.equal((await new DabbaClient({ addr: t.server.url, ca: caPem }).health()).ok, true);
  });

  test('a host renews only its own certificate, by presenting it', async () => {
    const ca = t.server.pki.ca;
    const dir = join(dataDir, 'renew');
    const issued = await issueAndRecordHostCertificate(t.store, ca, {
      hostId: 'r1',
      address: '127.0.0.1',
      csrPem: await hostCsr(dir, 'r1'),
    });
    const creds = await saveHostCertificate(dir, { certificate: issued.certPem, ca: issued.caPem });
    const asHost = new DabbaClient({
      addr: t.server.url,
      ca: ca.certPem,
      cert: creds.certPem,
      key: creds.keyPem,
    });
    const renewed = await asHost.renewHostCertificate('r1', await hostCsr(dir, 'r1'));
    assert.equal(renewed.address, '127.0.0.1');
    assert.notEqual(renewed.certificate, issued.certPem);
    await assert.rejects(
      asHost.renewHostCertificate('r2', await hostCsr(dir, 'r1')),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_FORBIDDEN',
    );
    await assert.rejects(
      new DabbaClient({ addr: t.server.url, ca: ca.certPem }).renewHostCertificate(
        'r1',
        await hostCsr(dir, 'r1'),
      ),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_UNAUTHENTICATED',
    );
    // An admin token is not a host's certificate either.
    await assert.rejects(
      t.client.renewHostCertificate('r1', await hostCsr(dir, 'r1')),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_FORBIDDEN',
    );
  });

  test('an agent with its host certificate registers, heartbeats and serves logs over TLS, reached only at its certificate address', async () => {
    const ca = t.server.pki.ca;
    const dir = join(dataDir, 'agent-h1');
    // What a join gives the agent: a certificate for the key it made, recorded with its address.
    const issued = await issueAndRecordHostCertificate(t.store, ca, {
      hostId: 'h1',
      address: '127.0.0.1',
      csrPem: await hostCsr(dir, 'h1'),
    });
    const creds = await saveHostCertificate(dir, { certificate: issued.certPem, ca: issued.caPem });
    const runtime = new FakeRuntime();
    const agent = await startAgent({
      client: new DabbaClient({
        addr: t.server.url,
        ca: creds.caPem,
        cert: creds.certPem,
        key: creds.keyPem,
      }),
      runtime,
      hostId: 'h1',
      labels: {},
      dataDir: dir,
      logger: silentLogger,
      capacity: CAPACITY,
      credentials: creds,
    });
    closers.push(() => agent.close({ stopTasks: true }));
    assert.match(agent.endpointUrl, /^https:\/\/127\.0\.0\.1:\d+$/);
    const client = new DabbaClient({ addr: t.server.url, ca: caPem, token: t.adminToken });
    await waitFor('h1 ready', async () =>
      (await client.hosts()).find((h) => h.id === 'h1' && h.state === 'ready'),
    );
    await client.putJob('echo', { name: 'echo', replicas: 1, task: { command: ['sleep', '100'] } });
    const task = await waitFor('task running', async () =>
      (await client.jobTasks('echo')).find((x) => x.state === 'running'),
    );
    runtime.emit(task.id, 'hello over tls');
    const lines: string[] = [];
    for await (const l of client.logs(task.id)) lines.push(l.text);
    assert.deepEqual(lines, ['hello over tls']);

    // The agent's endpoint answers only the control plane's certificate.
    const endpointLogs = `${agent.endpointUrl}/v1/logs/${task.id}`;
    await assert.rejects(get(endpointLogs, { ca: caPem }));
    const asHost = await issueHostKeyAndCertificate(ca, { hostId: 'h9', address: '127.0.0.1' });
    assert.deepEqual(await get(endpointLogs, { ca: caPem, cert: asHost.certPem, key: asHost.keyPem }), {
      code: 'DABBA_E_FORBIDDEN',
      message: 'only the control plane may read from this endpoint',
      details: {},
    });

    // A registration that claims another address changes nothing: the server never goes there.
    let decoyHits = 0;
    const decoy = createHttpServer((_req, res) => {
      decoyHits++;
      res.end('{}');
    });
    decoy.listen(0, '127.0.0.2');
    await once(decoy, 'listening');
    closers.push(() => new Promise((r) => decoy.close(() => r())));
    const claimed = `http://127.0.0.2:${(decoy.address() as AddressInfo).port}`;
    const rec = await getJson<HostRecord>(t.store, keys.host('h1'));
    assert.ok(rec);
    await putJson(t.store, keys.host('h1'), { ...rec.value, agentUrl: claimed });
    const again: string[] = [];
    await assert.rejects(async () => {
      for await (const l of client.logs(task.id)) again.push(l.text);
    });
    assert.equal(decoyHits, 0);
    // Back to the right port: served again, from the certificate's address.
    await putJson(t.store, keys.host('h1'), rec.value);
    const back: string[] = [];
    for await (const l of client.logs(task.id)) back.push(l.text);
    assert.deepEqual(back, ['hello over tls']);
    // A certificate record at another address: the server goes there (nothing listens), not to the claim.
    await issueAndRecordHostCertificate(t.store, ca, {
      hostId: 'h1',
      address: '127.0.0.3',
      csrPem: await hostCsr(dir, 'h1'),
    });
    await putJson(t.store, keys.host('h1'), { ...rec.value, agentUrl: claimed });
    await assert.rejects(
      async () => {
        for await (const l of client.logs(task.id)) again.push(l.text);
      },
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_UNAVAILABLE',
    );
    assert.equal(decoyHits, 0);
  });
});

describe('the cluster CA across restarts and replicas', () => {
  test('is kept across a restart and shared by two replicas on one store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-tls-ca-'));
    const store = await SqliteStore.open(join(dir, 'store.db'));
    const stops: (() => Promise<void>)[] = [];
    try {
      const opts = {
        store,
        storeName: 'sqlite',
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger,
        forceTls: true,
      };
      const first = await startServer({ ...opts, replicaId: 'r1', dataDir: join(dir, 'r1') });
      const pin = first.pki.ca.pin;
      await first.close();
      const restarted = await startServer({ ...opts, replicaId: 'r1', dataDir: join(dir, 'r1') });
      stops.push(() => restarted.close());
      assert.equal(restarted.pki.ca.pin, pin);
      assert.equal(restarted.pki.caCreated, false);
      const second = await startServer({ ...opts, replicaId: 'r2', dataDir: join(dir, 'r2') });
      stops.push(() => second.close());
      assert.equal(second.pki.ca.pin, pin);
      const caFile = await readFile(join(dir, 'r2', 'ca.crt'), 'utf8');
      // One CA file verifies both replicas.
      const both = new DabbaClient({ addr: [restarted.url, second.url], ca: caFile });
      assert.equal((await both.health()).ok, true);
      assert.equal((await new DabbaClient({ addr: second.url, ca: caFile }).health()).ok, true);
    } finally {
      for (const s of stops.reverse()) await s().catch(() => undefined);
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

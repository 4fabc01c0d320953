import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { SqliteStore } from '../../store/index.ts';
import { createCsr, generateKeyPair } from '../../x509/index.ts';
import {
  createClusterCa,
  hostCertificateRecord,
  hostIdentityOf,
  issueAndRecordHostCertificate,
  issueHostCertificate,
  issueServerCertificate,
  loadOrCreateClusterCa,
  openClusterCa,
  verifyCertificate,
} from './index.ts';

async function newCa(): Promise<ReturnType<typeof openClusterCa>> {
  const { certPem, keyPem } = await createClusterCa();
  return openClusterCa(certPem, keyPem);
}

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-pki-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function tempStore(t: TestContext, dir: string): Promise<SqliteStore> {
  const store = await SqliteStore.open(join(dir, 'store.db'));
  t.after(() => store.close());
  return store;
}

describe('cluster CA and certificates', () => {
  it('creates a P-256 CA valid for about 10 years, and refuses a key that is not its own', async () => {
    const { certPem } = await createClusterCa();
    const node = new X509Certificate(certPem);
    assert.equal(node.ca, true);
    assert.equal(node.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    const years = (Date.parse(node.validTo) - Date.now()) / (365 * 24 * 3600_000);
    assert.ok(years > 9.9 && years < 10.1, `CA valid for ${years} years`);
    const other = await createClusterCa();
    assert.throws(() => openClusterCa(certPem, other.keyPem), /does not belong to its certificate/);
  });

  it('issues a host certificate from a CSR: CN/SAN host id, IP SAN address, verified by the CA only', async () => {
    const ca = await newCa();
    const { privateKeyPem } = await generateKeyPair();
    const csrPem = await createCsr(privateKeyPem, 'web-1');
    const issued = await issueHostCertificate(ca, { hostId: 'web-1', address: '10.1.2.3', csrPem });
    const v = verifyCertificate(ca, issued.certPem);
    assert.ok(v.ok);
    assert.deepEqual(v.info.dnsNames, ['web-1']);
    assert.deepEqual(v.info.ipAddresses, ['10.1.2.3']);
    assert.deepEqual(hostIdentityOf(v.info), { hostId: 'web-1', address: '10.1.2.3' });
    const days = (issued.notAfter.getTime() - Date.now()) / (24 * 3600_000);
    assert.ok(days > 364 && days < 366, `leaf valid for ${days} days`);
    // The certificate carries the CSR's key: the private key never left the "host".
    const cert = new X509Certificate(issued.certPem);
    assert.ok(cert.checkPrivateKey((await import('node:crypto')).createPrivateKey(privateKeyPem)));

    const otherCa = await newCa();
    const wrong = verifyCertificate(otherCa, issued.certPem);
    assert.equal(wrong.ok, false);
    const expired = verifyCertificate(ca, issued.certPem, new Date(Date.now() + 400 * 24 * 3600_000));
    assert.ok(!expired.ok && /expired/.test(expired.reason));
  });

  it('refuses a tampered CSR, a bad host id or address, and a server certificate is no host identity', async () => {
    const ca = await newCa();
    const { privateKeyPem } = await generateKeyPair();
    const csrPem = await createCsr(privateKeyPem, 'web-1');
    const lines = csrPem.trim().split('\n');
    const mid = Math.floor(lines.length / 2);
    const line = lines[mid] ?? '';
    lines[mid] = (line[0] === 'A' ? 'B' : 'A') + line.slice(1);
    await assert.rejects(
      issueHostCertificate(ca, { hostId: 'web-1', address: '10.1.2.3', csrPem: lines.join('\n') }),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_BAD_REQUEST',
    );
    await assert.rejects(
      issueHostCertificate(ca, { hostId: 'Web_1', address: '10.1.2.3', csrPem }),
      /host id/,
    );
    await assert.rejects(
      issueHostCertificate(ca, { hostId: 'web-1', address: 'example.com', csrPem }),
      /IP address/,
    );
    const server = await issueServerCertificate(ca, { names: ['0.0.0.0', 'dabba.example', '192.0.2.7'] });
    const v = verifyCertificate(ca, server.certPem);
    assert.ok(v.ok);
    assert.equal(hostIdentityOf(v.info), undefined);
    assert.ok(v.info.dnsNames.includes('localhost') && v.info.dnsNames.includes('dabba.example'));
    assert.ok(v.info.ipAddresses.includes('127.0.0.1') && v.info.ipAddresses.includes('192.0.2.7'));
    assert.ok(!v.info.ipAddresses.includes('0.0.0.0'));
  });

  it('records the address of each issued host certificate', async (t) => {
    const dir = await tempDir(t);
    const store = await tempStore(t, dir);
    const ca = await newCa();
    const { privateKeyPem } = await generateKeyPair();
    const csrPem = await createCsr(privateKeyPem, 'web-2');
    const issued = await issueAndRecordHostCertificate(store, ca, {
      hostId: 'web-2',
      address: '::ffff:10.0.0.9',
      csrPem,
    });
    const rec = await hostCertificateRecord(store, 'web-2');
    assert.equal(rec?.address, '10.0.0.9');
    assert.equal(rec?.serialNumber, issued.serialNumber);
    assert.equal(await hostCertificateRecord(store, 'web-3'), undefined);
  });
});

describe('the CA in the store and the data dir', () => {
  it('is created once, written to the data dir (key 0600), and the same after a restart', async (t) => {
    const dir = await tempDir(t);
    const store = await tempStore(t, dir);
    const first = await loadOrCreateClusterCa(store, { dataDir: join(dir, 'data') });
    assert.equal(first.created, true);
    assert.equal(first.certFile, join(dir, 'data', 'ca.crt'));
    assert.equal((await stat(join(dir, 'data', 'ca.key'))).mode & 0o777, 0o600);
    assert.equal(await readFile(join(dir, 'data', 'ca.crt'), 'utf8'), first.ca.certPem);
    const again = await loadOrCreateClusterCa(store, { dataDir: join(dir, 'data') });
    assert.equal(again.created, false);
    assert.equal(again.ca.pin, first.ca.pin);
  });

  it('is the same for replicas racing on one store, each writing it to its own data dir', async (t) => {
    const dir = await tempDir(t);
    const store = await tempStore(t, dir);
    const all = await Promise.all(
      [1, 2, 3, 4].map((i) => loadOrCreateClusterCa(store, { dataDir: join(dir, `replica-${i}`) })),
    );
    assert.equal(new Set(all.map((r) => r.ca.pin)).size, 1);
    assert.equal(all.filter((r) => r.created).length, 1);
    for (let i = 1; i <= 4; i++)
      assert.equal(await readFile(join(dir, `replica-${i}`, 'ca.crt'), 'utf8'), all[0]?.ca.certPem);
  });

  it("takes the operator's own CA from an empty store, and refuses a data dir of another cluster", async (t) => {
    const dir = await tempDir(t);
    const store = await tempStore(t, dir);
    const own = await createClusterCa();
    await loadOrCreateClusterCa(store, { dataDir: join(dir, 'other') });
    // The store above already holds a CA: a data dir with a different one is refused...
    await writeFile(join(dir, 'ca.crt'), own.certPem);
    await writeFile(join(dir, 'ca.key'), own.keyPem, { mode: 0o600 });
    await assert.rejects(
      loadOrCreateClusterCa(store, { dataDir: dir }),
      (e) => e instanceof DabbaError && e.code === 'DABBA_E_CONFLICT' && /another cluster/.test(e.message),
    );
    // ...while a fresh store takes it as the cluster CA.
    const fresh = await SqliteStore.open(join(dir, 'fresh.db'));
    t.after(() => fresh.close());
    const r = await loadOrCreateClusterCa(fresh, { dataDir: dir });
    assert.equal(r.created, false);
    assert.equal(r.ca.certPem, own.certPem);
  });
});

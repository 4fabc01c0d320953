/**
 * Per-host ranges of the task network, against a real server and SQLite store: hosts that ask get
 * distinct ranges, the lowest free first; a host keeps its range when it registers again; many
 * registrations at once never share one; a full network is a clear error; the API and CLI show
 * the ranges; a bad task network stops the server from starting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import type { HostRecord, RegisterHostRequest } from '../../src/model/index.ts';
import { keys } from '../../src/model/index.ts';
import type { SqliteStore } from '../../src/store/index.ts';
import { cli } from '../helpers/dev-cluster.ts';
import type { RunningServer } from '../../src/server/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';

const capacity = { cpu: 2, memoryBytes: 1024 ** 3, pids: 1000 };

function host(id: string, o: Partial<RegisterHostRequest> = {}): RegisterHostRequest {
  return { id, labels: {}, capacity, runtime: 'oci', wantSubnet: true, ...o };
}

async function withServer(
  options: { taskNetwork?: string; hostSubnetSize?: number },
  fn: (client: DabbaClient, store: SqliteStore, server: RunningServer) => Promise<void>,
): Promise<void> {
  const t = await startTestServer('subnets', options);
  try {
    await fn(t.client, t.store, t.server);
  } finally {
    await t.close();
  }
}

/** Which host holds each range key, as the store says. */
async function heldRanges(store: SqliteStore): Promise<Map<string, string>> {
  const { kvs } = await store.range(keys.subnetsPrefix);
  return new Map(kvs.map((kv) => [kv.key, (JSON.parse(kv.value) as { host: string }).host]));
}

describe('task network ranges (default 10.88.0.0/16 in /24s)', () => {
  let t: TestServer;
  let store: SqliteStore;
  let client: DabbaClient;

  before(async () => {
    t = await startTestServer('subnets');
    store = t.store;
    client = t.client;
  });
  after(() => t.close());

  test('the first host gets 10.88.0.0/24, the next the lowest free; no range without asking', async () => {
    const a = await client.registerHost(host('alpha'));
    assert.equal(a.subnet, '10.88.0.0/24');
    assert.equal(a.taskNetwork, '10.88.0.0/16');
    const b = await client.registerHost(host('beta'));
    assert.equal(b.subnet, '10.88.1.0/24');
    const p = await client.registerHost(host('proc', { runtime: 'process', wantSubnet: false }));
    assert.equal(p.subnet, undefined);
    assert.equal(p.taskNetwork, undefined);
    const noField = await client.registerHost({ id: 'proc2', labels: {}, capacity, runtime: 'process' });
    assert.equal(noField.subnet, undefined);
    const held = await heldRanges(store);
    assert.equal(held.get(keys.subnet('10.88.0.0/24')), 'alpha');
    assert.equal(held.get(keys.subnet('10.88.1.0/24')), 'beta');
    assert.equal(held.size, 2);
  });

  test('a host keeps its range when it registers again (agent restart, lost lease)', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await client.registerHost(host('beta', { labels: { round: String(i) } }));
      assert.equal(r.subnet, '10.88.1.0/24');
    }
    // Registering without asking (another agent version) keeps the range on the record.
    await client.registerHost(host('alpha', { wantSubnet: false }));
    const again = await client.registerHost(host('alpha'));
    assert.equal(again.subnet, '10.88.0.0/24');
    const record = await store.get(keys.host('beta'));
    assert.equal((JSON.parse(record?.value ?? '{}') as HostRecord).subnet, '10.88.1.0/24');
    assert.equal((await heldRanges(store)).size, 2);
  });

  test('many registrations at once never share a range; the same host at once gets one', async () => {
    const ids = Array.from({ length: 40 }, (_, i) => `burst-${i}`);
    const results = await Promise.all(ids.map((id) => client.registerHost(host(id))));
    const ranges = results.map((r) => r.subnet ?? '');
    assert.equal(new Set(ranges).size, ids.length, `duplicates in ${ranges.join(' ')}`);
    // alpha and beta hold 0 and 1: the burst takes exactly 2..41, the lowest free ones.
    const expected = ids.map((_, i) => `10.88.${i + 2}.0/24`);
    assert.deepEqual([...ranges].sort(), [...expected].sort());

    // One host registering many times at once (a retrying agent) ends up with one range.
    const same = await Promise.all(Array.from({ length: 10 }, () => client.registerHost(host('twin'))));
    assert.equal(new Set(same.map((r) => r.subnet)).size, 1);
    const held = await heldRanges(store);
    assert.equal([...held.values()].filter((h) => h === 'twin').length, 1);
    assert.equal(same[0]?.subnet, '10.88.42.0/24');
    // Every key names the host whose record holds that range.
    const hosts = await client.hosts();
    for (const [key, id] of held) {
      const h = hosts.find((x) => x.id === id);
      assert.ok(h?.subnet !== undefined && keys.subnet(h.subnet) === key, `${key} held by ${id}`);
    }
  });

  test('GET /v1/hosts and dabba hosts show each range', async () => {
    const res = await fetch(`${t.server.url}/v1/hosts`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    const views = (await res.json()) as { id: string; subnet?: string }[];
    const byId = new Map(views.map((v) => [v.id, v.subnet]));
    assert.equal(byId.get('alpha'), '10.88.0.0/24');
    assert.equal(byId.get('beta'), '10.88.1.0/24');
    assert.equal(byId.get('proc'), undefined);
    assert.ok(byId.has('proc'));

    const json = await cli(['hosts', '--json'], { addr: t.server.url });
    assert.equal(json.code, 0, json.stderr);
    const listed = JSON.parse(json.stdout) as { id: string; subnet?: string }[];
    assert.equal(listed.find((h) => h.id === 'beta')?.subnet, '10.88.1.0/24');
    const table = await cli(['hosts'], { addr: t.server.url });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^HOST\s+STATE\s+RUNTIME\s+SUBNET\s/);
    assert.match(table.stdout, /^alpha\s+\S+\s+oci\s+10\.88\.0\.0\/24\s/m);
    assert.match(table.stdout, /^proc\s+\S+\s+process\s+-\s/m);
  });
});

describe('a task network with no range left', () => {
  test('the next host gets DABBA_E_NETWORK_FULL; known hosts still register', async () => {
    await withServer({ taskNetwork: '10.99.0.0/22', hostSubnetSize: 24 }, async (client, store) => {
      const got = await Promise.all(['h0', 'h1', 'h2', 'h3'].map((id) => client.registerHost(host(id))));
      assert.deepEqual(got.map((r) => r.subnet).sort(), [
        '10.99.0.0/24',
        '10.99.1.0/24',
        '10.99.2.0/24',
        '10.99.3.0/24',
      ]);
      await assert.rejects(client.registerHost(host('h4')), (e: unknown) => {
        assert.ok(e instanceof DabbaError);
        assert.equal(e.code, 'DABBA_E_NETWORK_FULL');
        assert.equal(e.details['httpStatus'], 409);
        assert.match(e.message, /10\.99\.0\.0\/22/);
        assert.match(e.message, /--task-network/);
        return true;
      });
      // Nothing of the refused host was written, and its lease is gone.
      assert.equal(await store.get(keys.host('h4')), undefined);
      assert.equal(await store.get(keys.alive('h4')), undefined);
      // A host without networking still registers; a known one keeps its range.
      assert.equal((await client.registerHost(host('p', { wantSubnet: false }))).subnet, undefined);
      assert.equal((await client.registerHost(host('h2'))).subnet, got[2]?.subnet);
    });
  });

  test('ranges follow --host-subnet-size and skip ranges held with another size', async () => {
    await withServer({ taskNetwork: '172.20.0.0/16', hostSubnetSize: 26 }, async (client, store) => {
      // A range held from when hosts got /24s: the /26s inside it are not given out.
      await store.put(keys.subnet('172.20.0.0/24'), JSON.stringify({ host: 'old' }));
      assert.equal((await client.registerHost(host('n1'))).subnet, '172.20.1.0/26');
      assert.equal((await client.registerHost(host('n2'))).subnet, '172.20.1.64/26');
    });
  });
});

describe('the task network option', () => {
  for (const [options, pattern] of [
    [{ taskNetwork: '8.8.0.0/16' }, /not a private range/],
    [{ taskNetwork: '10.88.0.0' }, /not an IPv4 CIDR/],
    [{ taskNetwork: '10.88.0.0/16', hostSubnetSize: 12 }, /from 16 to 29/],
    [{ taskNetwork: '10.88.0.0/16', hostSubnetSize: 30 }, /from 16 to 29/],
  ] as const) {
    test(`refuses ${JSON.stringify(options)}`, async () => {
      await assert.rejects(
        withServer(options, () => Promise.resolve()),
        (e: unknown) =>
          e instanceof DabbaError && e.code === 'DABBA_E_BAD_REQUEST' && pattern.test(e.message),
      );
    });
  }
});

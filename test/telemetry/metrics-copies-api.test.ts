/**
 * The copy route of metrics replication (`POST /v1/metrics/copies/:origin`) on a real server and
 * store: who may send a copy (the batch's own host, a server replica's own credential, admin; not a
 * viewer, not another host), that a copy is applied once and stays out of the replica's own store,
 * that partial answers list the copies held and serve them with `copyOf`, and that no one can
 * create a token named like a replica's credential through the API.
 */
import assert from 'node:assert/strict';
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { generateToken, hashToken, type TokenRecord } from '../../src/auth/index.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { keys, type IngestBatch, type MetricsQueryResult } from '../../src/model/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const ORIGIN = '0123456789abcdef0123';
const T0 = Math.floor(Date.now() / 60_000) * 60_000 - 30 * 60_000;

function batch(host: string, seq: number): IngestBatch {
  return {
    host,
    seq,
    spool: 'copies-api',
    series: [
      {
        name: 'copied_total',
        labels: { namespace: 'default', job: 'web' },
        kind: 'counter',
        samples: [
          [T0 + seq * 20_000, seq * 2],
          [T0 + seq * 20_000 + 10_000, seq * 2 + 1],
        ],
      },
    ],
  };
}

describe('metrics copies API', () => {
  let dir = '';
  let t: TestServer;
  let hostToken = '';
  let viewerToken = '';
  const replicaToken = generateToken();

  const post = (token: string, origin: string, body: unknown): Promise<Response> =>
    fetch(`${t.server.url}/v1/metrics/copies/${origin}?replica=peer-1`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const get = async (path: string): Promise<unknown> => {
    const res = await fetch(`${t.server.url}${path}`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    assert.equal(res.status, 200, path);
    return res.json();
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dabba-copies-api-'));
    t = await startTestServer('copies-api', { telemetryDir: join(dir, 'tsdb') });
    const agent = (await t.client.createToken({ name: 'j', role: 'agent' })).token;
    hostToken = (await new DabbaClient({ addr: t.server.url, token: agent }).join('h1')).credential;
    viewerToken = (await t.client.createToken({ name: 'v', role: 'viewer' })).token;
    // A replica's own credential, made as PeerCredential makes it: straight into the store.
    const record: TokenRecord = {
      name: 'replica.peer-1',
      hash: hashToken(replicaToken),
      role: 'viewer',
      namespaces: '*',
      createdAt: Date.now(),
      createdBy: 'test',
    };
    await t.store.put(keys.token(record.name), JSON.stringify(record));
  });
  after(async () => {
    try {
      await t.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('who may send a copy; a copy is applied once and kept apart', async () => {
    const viewer = await post(viewerToken, ORIGIN, batch('h1', 1));
    assert.equal(viewer.status, 403);
    const otherHost = await post(hostToken, ORIGIN, batch('h2', 1));
    assert.equal(otherHost.status, 403);
    const own = await post(hostToken, ORIGIN, batch('h1', 1));
    assert.equal(own.status, 200, await own.clone().text());
    assert.deepEqual(await own.json(), { accepted: 2, seq: 1, duplicate: false, skipped: 0 });
    const again = await post(hostToken, ORIGIN, batch('h1', 1));
    assert.equal(((await again.json()) as { duplicate: boolean }).duplicate, true);
    // The replica's own credential (an agent that authenticated by certificate): any host's batch.
    const byReplica = await waitFor(
      'the replica token is known',
      async () => {
        const r = await post(replicaToken, ORIGIN, batch('h2', 2));
        return r.status === 401 ? undefined : r;
      },
      30_000,
    );
    assert.equal(byReplica.status, 200, await byReplica.clone().text());
    assert.equal(((await byReplica.json()) as { accepted: number }).accepted, 2);
    // Refused: a replica's own store id, and something that is not a store id.
    const storeId = (await readFile(join(dir, 'tsdb', 'store-id'), 'utf8')).trim();
    assert.equal((await post(hostToken, storeId, batch('h1', 3))).status, 400);
    assert.equal((await post(hostToken, 'NOT-AN-ID', batch('h1', 3))).status, 400);

    const q = `/v1/metrics/query?name=copied_total&since=2h&step=1h&over=count&agg=sum`;
    // Kept apart: the replica's own share has none of it; its partial answer lists the copies...
    const partial = (await get(`${q}&partial=1`)) as { store: string; copies: unknown[]; series: unknown[] };
    assert.equal(partial.store, storeId);
    assert.deepEqual(partial.series, []);
    assert.deepEqual(partial.copies, [{ store: ORIGIN, replica: 'peer-1' }]);
    // ...and a whole answer takes them in place of the origin, which gave no share (it is no live
    // replica): 2 points of h1, 2 of h2, the re-sent batch once.
    const whole = (await get(q)) as MetricsQueryResult;
    assert.equal(
      whole.series.flatMap((x) => x.points).reduce((a, [, v]) => a + v, 0),
      4,
    );
    assert.deepEqual(whole.fromCopies, ['peer-1: from its copies on this replica']);
    assert.equal(whole.missing, undefined);
    // With copyOf, a replica serves its copies' share.
    const copy = (await get(`${q}&partial=1&copyOf=${ORIGIN}`)) as {
      series: { steps: [number, number, number, number, number][] }[];
    };
    const count = copy.series.flatMap((s) => s.steps).reduce((a, st) => a + st[4], 0);
    assert.equal(count, 4);
    const none = await fetch(`${t.server.url}${q}&partial=1&copyOf=ffffffffffffffff`, {
      headers: { authorization: `Bearer ${t.adminToken}` },
    });
    assert.equal(none.status, 404);
  });

  test('no token named like a replica credential can be made through the API', async () => {
    await assert.rejects(
      () => t.client.createToken({ name: 'replica.sneaky', role: 'viewer' }),
      /kept for the server replicas/,
    );
  });
});

/**
 * EtcdStore against a real 3-member etcd cluster started for this file: the Store conformance suite
 * (each test in its own namespace), then failover with members killed and restarted. Needs the etcd
 * binary (Debian: apt-get install etcd-server); without it the file fails, unless DABBA_SKIP_ETCD=1.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  etcdMissingMessage,
  etcdSkip,
  etcdVersion,
  startEtcdCluster,
  type EtcdCluster,
} from '../../../test/helpers/etcd-cluster.ts';
import { DabbaError, UnavailableError } from '../../errors/index.ts';
import { sleep } from '../../lib/index.ts';
import { storeConformance } from '../conformance.ts';
import type { WatchEvent } from '../store.ts';
import { EtcdStore, type EtcdStoreOptions } from './etcd-store.ts';

const skip = etcdSkip();
const version = etcdVersion();

if (skip !== false) {
  it(`EtcdStore (${skip})`, { skip }, () => undefined);
} else if (version === undefined) {
  it('EtcdStore needs etcd', () => {
    assert.fail(etcdMissingMessage());
  });
} else {
  suite();
}

function suite(): void {
  let cluster: EtcdCluster | undefined;
  before(async () => {
    cluster = await startEtcdCluster({ members: 3 });
  });
  after(() => cluster?.stop());

  function running(): EtcdCluster {
    assert.ok(cluster, 'the etcd cluster did not start');
    return cluster;
  }

  async function connect(t: TestContext | undefined, options: EtcdStoreOptions = {}): Promise<EtcdStore> {
    const store = await EtcdStore.connect(running().endpoints, {
      namespace: `test-${randomUUID().slice(0, 8)}/`,
      ...options,
    });
    t?.after(() => store.close());
    return store;
  }

  storeConformance(
    `EtcdStore (etcd ${version})`,
    async () => {
      const store = await connect(undefined);
      return { store, cleanup: () => store.close() };
    },
    {
      // Namespaces share the cluster's revision counter: tests must not write at the same time.
      concurrency: false,
      // etcd checks lease expiry every 500 ms, then revokes through raft.
      leaseExpiryGraceMs: 2000,
    },
  );

  describe('EtcdStore on a 3-member cluster', { timeout: 60_000 }, () => {
    it('refuses to connect when no endpoint answers, naming the endpoints', async () => {
      const bad = ['http://127.0.0.1:1', '127.0.0.1:2'];
      await assert.rejects(EtcdStore.connect(bad, { dialTimeoutMs: 300 }), (e: unknown) => {
        assert.ok(e instanceof UnavailableError, String(e));
        assert.match(e.message, /http:\/\/127\.0\.0\.1:1, http:\/\/127\.0\.0\.1:2/);
        return true;
      });
      await assert.rejects(EtcdStore.connect([]), DabbaError);
    });

    it('namespaces isolate stores sharing a cluster; lease ids are exact numbers', async (t) => {
      const a = await connect(t);
      const b = await connect(t);
      await a.put('k', 'a');
      await b.put('k', 'b');
      assert.equal((await a.get('k'))?.value, 'a');
      assert.deepEqual(
        (await b.range('')).kvs.map((kv) => [kv.key, kv.value]),
        [['k', 'b']],
      );
      assert.equal((await a.deletePrefix('')).deleted, 1);
      assert.equal((await b.get('k'))?.value, 'b');
      const lease = await a.grantLease(30);
      assert.ok(Number.isSafeInteger(lease.id) && lease.id > 0);
      await b.put('leased', '1', { lease: lease.id });
      assert.equal((await b.get('leased'))?.lease, lease.id, 'the id etcd stores is the one we chose');
      await a.revokeLease(lease.id);
      assert.equal(await b.get('leased'), undefined);
    });

    it('keeps serving, and a watch loses nothing, when its follower and then the leader are killed', async (t) => {
      const c = running();
      const leader = await c.leaderIndex();
      assert.ok(leader >= 0, 'a leader');
      const follower = (leader + 1) % 3;
      const other = (leader + 2) % 3;
      // Requests go to the first endpoint, and on failure to the next: follower, then leader.
      const urls = [follower, leader, other].map((i) => c.endpoints[i] ?? '');
      const store = await EtcdStore.connect(urls, { namespace: `test-${randomUUID().slice(0, 8)}/` });
      t.after(() => store.close());
      assert.equal(store.currentEndpoint, urls[0]);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const seen: WatchEvent[] = [];
      const from = (await store.revision()) + 1;
      const watching = (async () => {
        for await (const batch of store.watch('w/', { fromRevision: from, signal: ac.signal }))
          seen.push(...batch);
      })();

      // A writer that keeps writing through the failures. A write whose outcome the cluster could not
      // confirm is an UnavailableError (it may or may not be applied: checked below).
      const acked = new Map<string, number>();
      const unknown = new Set<string>();
      let stop = false;
      t.after(() => {
        stop = true;
      });
      let i = 0;
      const latencies: number[] = [];
      const writer = (async () => {
        while (!stop) {
          const key = `w/${i++}`;
          const t0 = performance.now();
          try {
            const { revision } = await store.put(key, String(i));
            latencies.push(performance.now() - t0);
            acked.set(key, revision);
          } catch (e) {
            if (stop) break;
            assert.ok(e instanceof UnavailableError, `unexpected ${String(e)}`);
            unknown.add(key);
          }
        }
      })();
      const progress = async (what: string): Promise<number> => {
        const n = acked.size;
        const t0 = Date.now();
        while (acked.size < n + 20) {
          assert.ok(Date.now() - t0 < 15_000, `no write succeeded for 15 s after: ${what}`);
          await sleep(10);
        }
        t.diagnostic(`${what}: 20 writes in ${Date.now() - t0} ms`);
        return Date.now() - t0;
      };

      await progress('before the failures');
      await c.killMember(follower);
      await progress(`the store's member m${follower} (a follower) killed`);
      assert.equal(store.currentEndpoint, c.endpoints[leader], 'failed over to the next endpoint');
      await c.restartMember(follower);
      await progress(`m${follower} restarted`);

      const t0 = Date.now();
      await c.killMember(leader);
      await progress(`the store's member m${leader} (the leader) killed`);
      t.diagnostic(`writes resumed ${Date.now() - t0} ms after the leader was killed`);
      const newLeader = await c.leaderIndex();
      assert.ok(newLeader >= 0 && newLeader !== leader, `new leader ${newLeader}`);
      await c.restartMember(leader);
      await c.waitHealthy();
      await progress(`old leader m${leader} rejoined`);
      stop = true;
      await writer;

      // The rejoined member has every acknowledged write: read from it alone.
      const rejoined = await EtcdStore.connect([c.endpoints[leader] ?? ''], { namespace: store.namespace });
      t.after(() => rejoined.close());
      const all = await rejoined.range('w/');
      const byKey = new Map(all.kvs.map((kv) => [kv.key, kv.modRevision]));
      for (const [key, rev] of acked)
        assert.equal(byKey.get(key), rev, `acknowledged ${key} on the rejoined member`);
      for (const key of byKey.keys()) assert.ok(acked.has(key) || unknown.has(key), `unexpected key ${key}`);

      // The watch saw every write that was applied, once, in order, through both failovers.
      const last = Math.max(...byKey.values());
      const deadline = Date.now() + 10_000;
      while ((seen.at(-1)?.kv.modRevision ?? 0) < last) {
        assert.ok(Date.now() < deadline, `watch stuck at ${seen.at(-1)?.kv.modRevision} (want ${last})`);
        await sleep(20);
      }
      ac.abort();
      await watching;
      assert.deepEqual(
        seen.map((e) => [e.kv.key, e.kv.modRevision]),
        [...byKey.entries()].sort((x, y) => x[1] - y[1]),
      );
      const sorted = latencies.sort((x, y) => x - y);
      const pct = (p: number): string => (sorted[Math.floor((sorted.length - 1) * p)] ?? 0).toFixed(1);
      t.diagnostic(
        `${acked.size} writes acknowledged, ${unknown.size} with unknown outcome; ` +
          `put latency p50 ${pct(0.5)} ms, p99 ${pct(0.99)} ms`,
      );
    });

    it('moves off a member that hangs (SIGSTOP), with its watch', async (t) => {
      const c = running();
      const store = await connect(t);
      const hung = c.endpoints.indexOf(store.currentEndpoint);
      assert.ok(hung >= 0);
      const ac = new AbortController();
      t.after(() => ac.abort());
      const from = (await store.revision()) + 1;
      const seen: WatchEvent[] = [];
      const watching = (async () => {
        for await (const b of store.watch('h/', { fromRevision: from, signal: ac.signal })) seen.push(...b);
      })();
      await store.put('h/before', '1');
      await c.freezeMember(hung);
      t.after(() => c.thawMember(hung));
      const t0 = Date.now();
      // The put that meets the hung member may or may not be applied (an unknown outcome).
      let acked = true;
      await store.put('h/during', '2').catch((e: unknown) => {
        assert.ok(e instanceof UnavailableError, String(e));
        acked = false;
      });
      const { revision } = await store.put('h/after', '3');
      const outcome = acked ? 'acknowledged' : 'of unknown outcome';
      t.diagnostic(
        `hung member: first put ${outcome}; the next one done ${Date.now() - t0} ms after the hang`,
      );
      assert.notEqual(store.currentEndpoint, c.endpoints[hung]);
      const deadline = Date.now() + 5000;
      while ((seen.at(-1)?.kv.modRevision ?? 0) < revision) {
        assert.ok(Date.now() < deadline, `the watch did not move on (have ${seen.length} events)`);
        await sleep(10);
      }
      const keys = seen.map((e) => e.kv.key);
      const during = keys.includes('h/during');
      assert.deepEqual(keys, during ? ['h/before', 'h/during', 'h/after'] : ['h/before', 'h/after']);
      assert.ok(during || !acked, 'an acknowledged write is delivered');
      c.thawMember(hung);
      ac.abort();
      await watching;
      await c.waitHealthy();
    });

    it('without a quorum, calls fail with UnavailableError instead of hanging; then recover', async (t) => {
      const c = running();
      const store = await connect(t, { requestTimeoutMs: 1500 });
      await store.put('q', '1');
      const down = [0, 1]; // two of three members: no quorum
      for (const i of down) await c.killMember(i);
      t.after(async () => {
        for (const i of down) if (c.members[i]?.pid === undefined) await c.restartMember(i);
      });
      const t0 = Date.now();
      await assert.rejects(store.put('q', '2'), UnavailableError);
      await assert.rejects(store.get('q'), UnavailableError);
      const took = Date.now() - t0;
      t.diagnostic(`a put and a get refused in ${took} ms (requestTimeoutMs 1500)`);
      assert.ok(took < 5000, `took ${took} ms`);
      for (const i of down) await c.restartMember(i);
      await c.waitHealthy();
      // The refused put may still be applied later (its outcome was unknown); nothing else is.
      assert.ok(['1', '2'].includes((await store.get('q'))?.value ?? ''));
      await store.put('q', '3');
      assert.equal((await store.get('q'))?.value, '3');
    });
  });
}

/**
 * The contract for leases: grant, keep-alive, expiry, revoke.
 * Part of the Store conformance suite (../conformance.ts).
 */
import assert from 'node:assert/strict';
import { it } from 'node:test';
import { LeaseNotFoundError } from '../../errors/index.ts';
import { sleep } from '../../lib/index.ts';
import type { ConformanceContext } from './fixture.ts';

/** Granting and keeping a lease alive, and what happens when it expires. */
export function leaseTests(c: ConformanceContext): void {
  const { open, grace } = c;
  it('grant returns an id and a TTL; keys put with it carry its id; no revision moves', async (t) => {
    const { store, p } = await open(t);
    const r = await store.revision();
    const lease = await store.grantLease(1);
    assert.ok(Number.isSafeInteger(lease.id) && lease.id !== 0, `lease id ${lease.id}`);
    assert.ok(lease.ttlSeconds >= 1, `ttl ${lease.ttlSeconds}`);
    const other = await store.grantLease(1);
    assert.notEqual(other.id, lease.id);
    assert.equal(await store.revision(), r, 'granting a lease is not a key change');
    await store.put(`${p}a`, '1', { lease: lease.id });
    assert.equal((await store.get(`${p}a`))?.lease, lease.id);
    const again = await store.keepAlive(lease.id);
    assert.equal(again.id, lease.id);
    assert.equal(again.ttlSeconds, lease.ttlSeconds);
    assert.equal(await store.revision(), r + 1, 'keepAlive is not a key change');
    await store.revokeLease(lease.id);
    await store.revokeLease(other.id);
  });

  it('keepAlive renews a lease past its TTL', async (t) => {
    const { store, p } = await open(t);
    const lease = await store.grantLease(1);
    const ttlMs = lease.ttlSeconds * 1000;
    await store.put(`${p}a`, '1', { lease: lease.id });
    const until = Date.now() + ttlMs * 2.5;
    while (Date.now() < until) {
      await sleep(ttlMs / 4);
      const l = await store.keepAlive(lease.id);
      assert.equal(l.id, lease.id);
    }
    assert.equal((await store.get(`${p}a`))?.value, '1', 'kept alive: the key is still there');
    await store.revokeLease(lease.id);
  });

  it('keys vanish, with delete events, when their lease expires', async (t) => {
    const { store, p, watch } = await open(t);
    const lease = await store.grantLease(1);
    const ttlMs = lease.ttlSeconds * 1000;
    const granted = Date.now();
    await store.put(`${p}a`, '1', { lease: lease.id });
    await store.put(`${p}b`, '2', { lease: lease.id });
    await store.put(`${p}c`, '3');
    const w = watch(p, (await store.revision()) + 1);

    await sleep(Math.max(0, granted + ttlMs / 2 - Date.now()));
    assert.ok(await store.get(`${p}a`), 'not gone before its TTL');

    await w.waitForEvents(2, ttlMs + grace);
    assert.deepEqual(w.events.map((e) => [e.type, e.kv.key.slice(p.length), e.prevKv?.lease]).sort(), [
      ['delete', 'a', lease.id],
      ['delete', 'b', lease.id],
    ]);
    assert.equal(w.events[0]?.kv.modRevision, w.events[1]?.kv.modRevision, 'one revision');
    assert.equal(w.batches.length, 1, 'one batch');
    assert.equal(await store.get(`${p}a`), undefined);
    assert.equal(await store.get(`${p}b`), undefined);
    assert.equal((await store.get(`${p}c`))?.value, '3', 'keys without the lease stay');
    await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);
    await assert.rejects(store.put(`${p}d`, '4', { lease: lease.id }), LeaseNotFoundError);
  });

  it('keepAlive of an expired lease throws LeaseNotFoundError', async (t) => {
    const { store } = await open(t);
    const lease = await store.grantLease(1);
    await sleep(lease.ttlSeconds * 1000 + grace);
    await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);
  });
}

/** Revoking a lease, unknown leases, and detaching a key from its lease. */
export function leaseRevokeTests(c: ConformanceContext): void {
  const { open } = c;
  it('revoke deletes the keys of the lease in one revision; unknown leases are ignored', async (t) => {
    const { store, p, watch } = await open(t);
    const lease = await store.grantLease(60);
    await store.put(`${p}a`, '1', { lease: lease.id });
    await store.put(`${p}b`, '2', { lease: lease.id });
    await store.put(`${p}c`, '3');
    const r = await store.revision();
    const w = watch(p, r + 1);
    await store.revokeLease(lease.id);
    assert.equal(await store.revision(), r + 1);
    assert.deepEqual(
      (await store.range(p)).kvs.map((x) => x.key),
      [`${p}c`],
    );
    await w.waitForEvents(2);
    assert.ok(w.events.every((e) => e.type === 'delete' && e.kv.modRevision === r + 1));
    await assert.rejects(store.keepAlive(lease.id), LeaseNotFoundError);

    await store.revokeLease(lease.id);
    await store.revokeLease(lease.id + 1_000_000);
    const empty = await store.grantLease(60);
    await store.revokeLease(empty.id);
    assert.equal(await store.revision(), r + 1, 'revoking without keys moves nothing');
  });

  it('put or txn with an unknown lease is refused and changes nothing', async (t) => {
    const { store, p } = await open(t);
    await store.put(`${p}keep`, '1');
    const r = await store.revision();
    const unknown = 987_654_321;
    await assert.rejects(store.put(`${p}a`, '1', { lease: unknown }), LeaseNotFoundError);
    await assert.rejects(
      store.txn({
        compare: [],
        success: [
          { type: 'put', key: `${p}b`, value: '1' },
          { type: 'delete', key: `${p}keep` },
          { type: 'put', key: `${p}c`, value: '1', lease: unknown },
        ],
      }),
      LeaseNotFoundError,
    );
    assert.deepEqual(
      (await store.range(p)).kvs.map((x) => x.key),
      [`${p}keep`],
    );
    assert.equal(await store.revision(), r);
  });

  it('a put without a lease detaches the key from its lease', async (t) => {
    const { store, p } = await open(t);
    const lease = await store.grantLease(60);
    await store.put(`${p}a`, '1', { lease: lease.id });
    await store.put(`${p}a`, '2');
    assert.equal((await store.get(`${p}a`))?.lease, 0);
    await store.revokeLease(lease.id);
    assert.equal((await store.get(`${p}a`))?.value, '2');
  });
}

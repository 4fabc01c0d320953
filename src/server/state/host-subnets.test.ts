/**
 * registerHost's range allocation under contention, on a real SQLite store: registrations started
 * together (so that they all read the store before any of them writes) still never share a range,
 * and a host registering many times at once holds one range. Plus the range arithmetic.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { systemClock } from '../../lib/index.ts';
import type { HostRecord } from '../../model/index.ts';
import { keys } from '../../model/index.ts';
import { SqliteStore, type Store } from '../../store/index.ts';
import { registerHost, setHostSchedulable } from './hosts.ts';
import { formatCidr, parseCidr, rangeSize } from '../../lib/index.ts';
import { lowestFreeRange, parseTaskNetwork } from '../../model/index.ts';

const capacity = { cpu: 1, memoryBytes: 1024 ** 3, pids: 100 };

async function withStore(fn: (store: SqliteStore) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-host-subnets-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  try {
    await fn(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Lets every caller read before anyone writes: each txn waits until all have reached theirs once
 * (and `between`, if given, has run: a write by someone else in the meantime).
 */
function lockstep(store: SqliteStore, callers: number, between?: () => Promise<unknown>): Store {
  let waiting: (() => void)[] = [];
  let released = false;
  return {
    maxTxnOps: store.maxTxnOps,
    get: (k) => store.get(k),
    range: (p, o) => store.range(p, o),
    put: (k, v, o) => store.put(k, v, o),
    delete: (k) => store.delete(k),
    deletePrefix: (p) => store.deletePrefix(p),
    watch: (p, o) => store.watch(p, o),
    revision: () => store.revision(),
    grantLease: (t) => store.grantLease(t),
    keepAlive: (id) => store.keepAlive(id),
    revokeLease: (id) => store.revokeLease(id),
    compact: (r) => store.compact(r),
    close: () => store.close(),
    async txn(req) {
      if (!released) {
        await new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length >= callers) {
            released = true;
            const go = waiting;
            waiting = [];
            void (between ? between() : Promise.resolve()).then(() => {
              for (const w of go) w();
            });
          }
        });
      }
      return store.txn(req);
    },
  };
}

async function held(store: SqliteStore): Promise<Map<string, string>> {
  const { kvs } = await store.range(keys.subnetsPrefix);
  return new Map(kvs.map((kv) => [kv.key, (JSON.parse(kv.value) as { host: string }).host]));
}

describe('registerHost ranges under contention', () => {
  test('hosts registering together all read first, then get distinct, lowest ranges', async () => {
    await withStore(async (plain) => {
      const n = 25;
      const store = lockstep(plain, n);
      const network = parseTaskNetwork('10.88.0.0/16', 24);
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) =>
          registerHost(
            store,
            { id: `h${i}`, labels: {}, capacity, runtime: 'oci', wantSubnet: true },
            { ttlSeconds: 30 },
            systemClock,
            network,
          ),
        ),
      );
      const ranges = results.map((r) => r.subnet ?? '');
      assert.equal(new Set(ranges).size, n, ranges.join(' '));
      assert.deepEqual([...ranges].sort(), Array.from({ length: n }, (_, i) => `10.88.${i}.0/24`).sort());
      const keysHeld = await held(plain);
      assert.equal(keysHeld.size, n);
      for (let i = 0; i < n; i++) {
        const rec = JSON.parse((await plain.get(keys.host(`h${i}`)))?.value ?? '{}') as HostRecord;
        assert.equal(keysHeld.get(keys.subnet(rec.subnet ?? '')), `h${i}`);
        assert.equal(rec.subnet, results[i]?.subnet);
      }
      // The leases of the losing attempts were not left behind: one alive key per host.
      assert.equal((await plain.range(keys.alivePrefix)).kvs.length, n);
    });
  });

  test('one host registering many times together holds one range', async () => {
    await withStore(async (plain) => {
      const n = 12;
      const store = lockstep(plain, n);
      const results = await Promise.all(
        Array.from({ length: n }, () =>
          registerHost(
            store,
            { id: 'twin', labels: {}, capacity, runtime: 'oci', wantSubnet: true },
            { ttlSeconds: 30 },
            systemClock,
          ),
        ),
      );
      assert.deepEqual(new Set(results.map((r) => r.subnet)), new Set(['10.88.0.0/24']));
      assert.deepEqual([...(await held(plain)).entries()], [[keys.subnet('10.88.0.0/24'), 'twin']]);
    });
  });
});

describe('registerHost keeps what others write meanwhile', () => {
  test("a cordon between a re-registration's read and its write is kept, and so is the range", async () => {
    await withStore(async (plain) => {
      const req = { id: 'c1', labels: {}, capacity, runtime: 'oci', wantSubnet: true };
      const first = await registerHost(plain, req, { ttlSeconds: 30 }, systemClock);
      const store = lockstep(plain, 1, () => setHostSchedulable(plain, 'c1', 'cordoned'));
      const again = await registerHost(store, req, { ttlSeconds: 30 }, systemClock);
      assert.equal(again.subnet, first.subnet);
      const rec = JSON.parse((await plain.get(keys.host('c1')))?.value ?? '{}') as HostRecord;
      assert.equal(rec.schedulable, 'cordoned');
      assert.equal(rec.subnet, first.subnet);
    });
  });
});

describe('range arithmetic', () => {
  test('the lowest free range overlaps nothing held, and none below it is free', () => {
    const network = parseTaskNetwork('10.40.0.0/20', 24);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ third: fc.integer({ min: 0, max: 20 }), bits: fc.integer({ min: 22, max: 28 }) }),
          { maxLength: 12 },
        ),
        (picks) => {
          const taken = picks.map(({ third, bits }) =>
            formatCidr(parseCidr(`10.40.${third}.0/${bits}`) ?? { base: 0, prefix: bits }),
          );
          const blocks = taken.map((t) => parseCidr(t)).filter((b) => b !== undefined);
          const free = lowestFreeRange(network, taken);
          const overlapsTaken = (s: number): boolean =>
            blocks.some((b) => b.base < s + 256 && s < b.base + rangeSize(b.prefix));
          const first = network.base;
          const candidates = Array.from({ length: 16 }, (_, i) => first + i * 256);
          const expected = candidates.find((s) => !overlapsTaken(s));
          if (expected === undefined) return free === undefined;
          return free === `10.40.${(expected - first) / 256}.0/24`;
        },
      ),
    );
  });
});

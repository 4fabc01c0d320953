/**
 * The Store conformance suite: every behaviour of the Store interface (store.ts), with etcd's
 * semantics. Every implementation runs this same suite from its own test file:
 *
 *   storeConformance('SqliteStore', async () => { ...; return { store, cleanup } });
 *
 * Each test calls the factory once and cleans up with the returned function (which must also work
 * after the test closed the store itself). The store need not be empty, but nobody else may write to
 * it while the test runs (the tests check that the revision moves by exactly one per write), and the
 * tests write only under a prefix unique to the test. Nothing here depends on one implementation.
 */
import { describe, type TestContext } from 'node:test';
import { closeTests } from './conformance/close.ts';
import { Probe, type ConformanceContext, type Fixture } from './conformance/fixture.ts';
import { keyTests, rangeTests } from './conformance/keys.ts';
import { leaseRevokeTests, leaseTests } from './conformance/leases.ts';
import { compareAndSwapTests } from './conformance/txn-cas.ts';
import { txnBranchTests, txnTests } from './conformance/txn.ts';
import { watchBoundsTests } from './conformance/watch-bounds.ts';
import { watchBatchTests, watchStartTests } from './conformance/watch-delivery.ts';
import type { Store } from './store.ts';

export type StoreFactory = () => Promise<{ store: Store; cleanup: () => Promise<void> }>;

export interface StoreConformanceOptions {
  /** How long after a lease's TTL its expiry may take to be observed (ms). Default 1,500. */
  leaseExpiryGraceMs?: number;
  /**
   * Run the tests concurrently (each has its own store from the factory). Turn off when the
   * factory's stores share one revision counter (e.g. namespaces of one etcd). Default true.
   */
  concurrency?: boolean;
  /** Writes in the long watch test. Default 2,000. */
  manyWrites?: number;
  /** Per-test timeout (ms). Default 30,000. */
  testTimeoutMs?: number;
}

/** Registers the suite (a node:test describe) for one Store implementation. */
export function storeConformance(
  name: string,
  factory: StoreFactory,
  options: StoreConformanceOptions = {},
): void {
  const grace = options.leaseExpiryGraceMs ?? 1500;
  const manyWrites = options.manyWrites ?? 2000;
  const timeout = options.testTimeoutMs ?? 30_000;
  let seq = 0;

  /** A store for one test, a unique key prefix, and a watch helper that cleans up after itself. */
  async function open(t: TestContext): Promise<Fixture> {
    const { store, cleanup } = await factory();
    t.after(cleanup);
    const p = `conformance-${process.pid}-${Date.now().toString(36)}-${seq++}/`;
    const probes: Probe[] = [];
    t.after(() => {
      for (const probe of probes) probe.abort();
    });
    return {
      store,
      p,
      watch: (prefix, fromRevision) => {
        const probe = new Probe(store, prefix, fromRevision);
        probes.push(probe);
        return probe;
      },
    };
  }
  const c: ConformanceContext = { open, grace, manyWrites };
  describe(`Store conformance: ${name}`, { concurrency: options.concurrency ?? true, timeout }, () => {
    describe('keys and revisions', () => {
      keyTests(c);
      rangeTests(c);
    });
    describe('txn', () => {
      txnTests(c);
      txnBranchTests(c);
      compareAndSwapTests(c);
    });
    describe('watch', () => {
      watchStartTests(c);
      watchBatchTests(c);
      watchBoundsTests(c);
    });
    describe('leases', () => {
      leaseTests(c);
      leaseRevokeTests(c);
    });
    describe('close', () => {
      closeTests(c);
    });
  });
}

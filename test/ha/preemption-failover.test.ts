/**
 * Preemptions and loans are the cluster's, not one replica's memory (docs/batch.md, docs/elastic.md):
 * three server replicas on one real SQLite store (in this process), two real agents on the fake
 * runtime that talk to all three. A replica "crashes" (its store calls fail from then on and it is
 * closed without giving up its leases, as a kill -9 would leave it) right after it wrote a step:
 *
 * - mid-recall: the broker shard's owner has just written a loan's recall; another replica takes
 *   the broker shard over, marks the batch tasks on the recalled host for preemption, their job's
 *   owner stops them, and the host is back in the online pool before the recall deadline;
 * - mid-preemption: the owner of a service's shard has just marked batch tasks of a job owned by
 *   another replica, and reserved their room; that replica stops them (it learns of them from the
 *   store), and the service is placed in the freed room by whoever took its shard over.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { Loan } from '../../src/scheduler/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import type { Store, TxnRequest, TxnResult } from '../../src/store/index.ts';
import { SqliteStore } from '../../src/store/index.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const SHARDS = 8;
const RECALL_WITHIN_MS = 60_000;

/** One replica's view of the shared store; `crashOn` makes it fail every call after a matching write. */
class Crashable {
  readonly store: Store;
  crashed = false;
  crashOn: ((r: TxnRequest) => boolean) | undefined;
  onCrash: (() => void) | undefined;

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      get: (target, prop, receiver) => {
        if (prop === 'close') return () => Promise.resolve(); // the shared store is closed by the test
        if (prop === 'txn') {
          return async (request: TxnRequest): Promise<TxnResult> => {
            if (this.crashed) throw new Error('this replica crashed');
            const result = await target.txn(request);
            if (result.succeeded && this.crashOn?.(request) === true) {
              this.crashed = true;
              this.onCrash?.();
            }
            return result;
          };
        }
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        const fn = (v as (...a: unknown[]) => unknown).bind(target);
        // Leases stop being renewed; reads and writes fail (a watch already open runs on, harmlessly).
        if (prop === 'keepAlive' || prop === 'range' || prop === 'get' || prop === 'put')
          return (...a: unknown[]) =>
            this.crashed ? Promise.reject(new Error('this replica crashed')) : fn(...a);
        return fn;
      },
    });
  }
}

interface Cluster {
  store: SqliteStore;
  servers: RunningServer[];
  views: Crashable[];
  client: DabbaClient;
  /** Crashes the replica right after its first write that `match` picks; resolves with its index. */
  crashAfter(index: number, match: (r: TxnRequest) => boolean): Promise<number>;
}

async function cluster(t: TestContext, name: string): Promise<Cluster> {
  const dir = await mkdtemp(join(tmpdir(), `dabba-${name}-`));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const servers: RunningServer[] = [];
  const views: Crashable[] = [];
  const stops: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const stop of stops) await stop().catch(() => undefined);
    await Promise.allSettled(servers.map((s) => s.close({ release: false })));
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });
  for (const id of ['r1', 'r2', 'r3']) {
    const view = new Crashable(store);
    views.push(view);
    servers.push(
      await startServer({
        auth: { adminToken: TEST_ADMIN_TOKEN },
        store: view.store,
        storeName: 'sqlite:shared',
        host: '127.0.0.1',
        port: 0,
        logger: silentLogger,
        replicaId: id,
        shardCount: SHARDS,
        leaseTtlSeconds: 2,
        hostTtlSeconds: 30,
        recallWithinMs: RECALL_WITHIN_MS,
      }),
    );
  }
  const addr = servers.map((s) => s.url);
  // Every shard owned, one broker.
  await waitFor(
    'shards spread over the three replicas',
    () =>
      servers.reduce((n, s) => n + s.replica.ownedShards().length, 0) === SHARDS &&
      servers.every((s) => s.replica.ownedShards().length > 0) &&
      servers.filter((s) => s.replica.ownsBroker()).length === 1,
    30_000,
  );
  for (const id of ['h1', 'h2']) {
    const a = await startAgent({
      client: new DabbaClient({ token: TEST_ADMIN_TOKEN, addr }),
      runtime: new FakeRuntime(),
      hostId: id,
      labels: {},
      dataDir: join(dir, id),
      logger: silentLogger,
      capacity: { cpu: 2, memoryBytes: 4 * 2 ** 30, pids: 4096 },
    });
    stops.push(() => a.close({ stopTasks: true }));
  }
  return {
    store,
    servers,
    views,
    client: new DabbaClient({ token: TEST_ADMIN_TOKEN, addr }),
    crashAfter(index, match) {
      const view = views[index];
      const server = servers[index];
      if (view === undefined || server === undefined) throw new Error(`no replica ${index}`);
      return new Promise((resolve) => {
        view.onCrash = () => {
          // Killed: no lease given back (the others wait for it to expire).
          void server.close({ release: false }).catch(() => undefined);
          resolve(index);
        };
        view.crashOn = match;
      });
    },
  };
}

const puts = (r: TxnRequest, prefix: string, contains = ''): boolean =>
  r.success.some((op) => op.type === 'put' && op.key.startsWith(prefix) && op.value.includes(contains));

/** A job name (NAME-i) whose shard the replica at `owner` holds (or does not hold, with `not`). */
function nameOn(c: Cluster, base: string, owner: number, not = false): string {
  const r = c.servers[owner]?.replica;
  if (r === undefined) throw new Error(`no replica ${owner}`);
  for (let i = 0; i < 1000; i++) {
    const name = `${base}-${i}`;
    if (r.ownedShards().includes(r.shardOf(name)) !== not) return name;
  }
  throw new Error(`no name for replica ${owner}`);
}

async function running(c: Cluster, job: string): Promise<{ id: string; host: string | null }[]> {
  return (await c.client.jobTasks(job)).filter((x) => x.desired === 'run' && x.state === 'running');
}

test(
  'mid-recall: the broker dies right after writing a recall; another replica finishes it in time',
  { timeout: 300_000 },
  async (t) => {
    const c = await cluster(t, 'recall-failover');
    await c.client.putJob('web', {
      name: 'web',
      replicas: 1,
      pool: 'online',
      task: { command: ['serve'], resources: { cpu: 2, memory: '64Mi' } },
      update: { minHealthy: '0s' },
    });
    await waitFor('web running', async () => (await running(c, 'web')).length === 1, 60_000);
    await c.client.putJob('crunch', {
      name: 'crunch',
      type: 'batch',
      pool: 'batch',
      completions: 50,
      parallelism: 2,
      task: { command: ['work'], resources: { cpu: 1, memory: '16Mi' }, stopGracePeriod: '1s' },
    });
    const loaned = await waitFor(
      'the free host loaned to batch, batch tasks on it',
      async () => {
        const loans = (await c.client.pools()).loans;
        const r = await running(c, 'crunch');
        const host = loans[0]?.host;
        return loans.length === 1 && r.length === 2 && r.every((x) => x.host === host) ? host : undefined;
      },
      90_000,
    );
    const broker = c.servers.findIndex((s) => s.replica.ownsBroker());
    const crashed = c.crashAfter(broker, (r) => puts(r, '/loans/', '"recall"'));
    await c.client.scaleJob('web', 2);
    await crashed;
    const stored = await c.store.get(`/loans/${loaned}`);
    const loan = JSON.parse(stored?.value ?? '{}') as Loan;
    assert.ok(loan.recall !== undefined, 'the recall was written before the crash');
    const deadline = loan.recall.deadline;

    await waitFor(
      'another replica owns the broker shard',
      () => c.servers.some((s, i) => i !== broker && s.replica.ownsBroker()),
      30_000,
    );
    await waitFor(
      'web: 2 replicas, the loan ended',
      async () => (await running(c, 'web')).length === 2 && (await c.client.pools()).loans.length === 0,
      RECALL_WITHIN_MS + 30_000,
    );
    const events = await c.client.events({ limit: 1000 });
    const back = events.find((e) => e.kind === 'pool.returned' && e.host === loaned);
    assert.ok(back !== undefined, 'the host came back to its pool');
    assert.ok(back.at <= deadline, `back ${back.at - deadline} ms after the recall deadline`);
    // Preempted for the recall, or for the service waiting for that host (whichever came first).
    const preempted = events.filter(
      (e) => e.kind === 'task.preempted' && e.message.includes(`on ${loaned}:`),
    );
    assert.equal(preempted.length, 2, 'both batch tasks on the recalled host were preempted');
    await waitFor(
      'the preemption marks cleaned up',
      async () => (await c.store.range('/preemptions/victims/')).kvs.length === 0,
      30_000,
    );
    await c.client.stopJob('crunch');
  },
);

test(
  "mid-preemption: a service's owner dies right after marking another replica's batch tasks",
  { timeout: 300_000 },
  async (t) => {
    const c = await cluster(t, 'preempt-failover');
    // The service on r1's shard, the batch job on a shard r1 does not hold.
    const web = nameOn(c, 'web', 0);
    const crunch = nameOn(c, 'crunch', 0, true);
    await c.client.putJob(crunch, {
      name: crunch,
      type: 'batch',
      completions: 40,
      parallelism: 4,
      task: { command: ['work'], resources: { cpu: 1, memory: '16Mi' }, stopGracePeriod: '1s' },
    });
    await waitFor(
      'the batch job fills both hosts',
      async () => (await running(c, crunch)).length === 4,
      60_000,
    );
    const crashed = c.crashAfter(0, (r) => puts(r, '/preemptions/victims/'));
    await c.client.putJob(web, {
      name: web,
      replicas: 1,
      task: { command: ['serve'], resources: { cpu: 2, memory: '64Mi' } },
      update: { minHealthy: '0s' },
    });
    await crashed;
    const marks = (await c.store.range('/preemptions/victims/')).kvs;
    assert.ok(marks.length >= 2, `the victims were marked in the store (${marks.length})`);
    assert.ok(await c.store.get(`/preemptions/reserved/${web}`), 'the room is reserved in the store');

    const placed = await waitFor(
      `${web} placed in the freed room`,
      async () => (await running(c, web))[0],
      RECALL_WITHIN_MS + 30_000,
    );
    const events = await c.client.events({ limit: 1000 });
    const preempted = events.filter((e) => e.kind === 'task.preempted' && e.job === crunch);
    assert.equal(preempted.length, 2, 'two batch tasks preempted');
    for (const e of preempted) {
      assert.match(
        e.message,
        new RegExp(`preempted for service ${web} \\(task [a-z0-9-]+ needs its room on ${placed.host}\\)`),
      );
    }
    assert.equal((await c.client.getJob(crunch)).batch?.preempted, 2);
    await c.client.stopJob(crunch);
  },
);

/**
 * Namespaces, quotas, revocation, expiry and host restriction on a real server and store: a
 * deployer of one namespace cannot see into another; a quota refuses a deploy with the numbers and
 * stores nothing; a revoked token fails on the next request; a host acts only as itself.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { daemons } from '../../src/bin/daemons.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { DabbaError } from '../../src/errors/index.ts';
import { ManualClock, silentLogger } from '../../src/lib/index.ts';
import { keys } from '../../src/model/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

function job(name: string, replicas: number, cpu: number, namespace?: string): Record<string, unknown> {
  return {
    name,
    ...(namespace === undefined ? {} : { namespace }),
    replicas,
    task: { command: ['sleep', '1000'], resources: { cpu, memory: '16Mi' } },
  };
}

async function refusal(p: Promise<unknown>): Promise<DabbaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DabbaError) return e;
    throw e;
  }
  assert.fail('expected a refusal');
}

describe('namespaces, quotas and tokens', () => {
  let t: TestServer;
  let admin: DabbaClient;
  const clock = new ManualClock(Date.now());

  before(async () => {
    t = await startTestServer('tenancy', { clock });
    admin = t.client;
    await admin.createNamespace('a');
    await admin.createNamespace('b');
  });
  after(async () => {
    await t.close();
  });

  test('a deployer of namespace a can neither read nor change jobs in b, whether they exist or not', async () => {
    const tok = await admin.createToken({ name: 'dep-a', role: 'deployer', namespaces: ['a'] });
    const inA = new DabbaClient({ addr: t.server.url, token: tok.token, namespace: 'a' });
    const inB = inA.with({ namespace: 'b' });
    await admin.with({ namespace: 'b' }).putJob('secret', job('secret', 1, 0.1));
    assert.equal((await inA.putJob('web', job('web', 1, 0.1))).changed, true);
    assert.deepEqual(
      (await inA.listJobs()).map((j) => [j.namespace, j.job]),
      [['a', 'web']],
    );
    const exists = await refusal(inB.getJob('secret'));
    const missing = await refusal(inB.getJob('nothing-here'));
    for (const e of [exists, missing]) {
      assert.equal(e.code, 'DABBA_E_FORBIDDEN');
      assert.equal(e.details['namespace'], 'b');
    }
    assert.equal(exists.message, missing.message.replace('nothing-here', 'secret'));
    assert.equal((await refusal(inB.putJob('web', job('web', 1, 0.1)))).code, 'DABBA_E_FORBIDDEN');
    assert.equal((await refusal(inB.stopJob('secret'))).code, 'DABBA_E_FORBIDDEN');
    assert.equal((await refusal(inA.with({ namespace: '*' }).listJobs())).code, 'DABBA_E_FORBIDDEN');
    // The job file's namespace must agree with the request's.
    assert.equal((await refusal(inA.putJob('web', job('web', 1, 0.1, 'b')))).code, 'DABBA_E_BAD_REQUEST');
  });

  test("a viewer of a sees only a's events, listed and followed; scale and restart stay in their namespace", async () => {
    const tok = await admin.createToken({ name: 'view-a', role: 'viewer', namespaces: ['a'] });
    const viewA = new DabbaClient({ addr: t.server.url, token: tok.token, namespace: 'a' });
    const ac = new AbortController();
    const followed: { job?: string; message: string }[] = [];
    const following = (async () => {
      for await (const e of viewA.followEvents({ signal: ac.signal })) followed.push(e);
    })();
    try {
      await admin.with({ namespace: 'a' }).putJob('ev', job('ev', 1, 0.1));
      await admin.with({ namespace: 'b' }).putJob('ev', job('ev', 1, 0.1));
      await admin.with({ namespace: 'b' }).scaleJob('ev', 2);
      await admin.with({ namespace: 'a' }).restartJob('ev');
      await waitFor('the restart of a/ev followed', () =>
        followed.some((e) => e.job === 'a:ev' && /restarted/.test(e.message)) ? true : undefined,
      );
      const listed = await viewA.events({ limit: 5000 });
      for (const e of [...listed, ...followed]) {
        assert.ok(e.job === undefined || e.job.startsWith('a:'), `a viewer of a saw ${JSON.stringify(e)}`);
      }
      assert.ok(listed.some((e) => e.job === 'a:ev'));
      // Scaled in b only; restarted in a only.
      assert.equal((await admin.with({ namespace: 'b' }).getJob('ev')).replicas, 2);
      assert.equal((await admin.with({ namespace: 'a' }).getJob('ev')).replicas, 1);
      assert.equal((await refusal(viewA.scaleJob('ev', 3))).code, 'DABBA_E_FORBIDDEN');
      assert.equal((await refusal(viewA.with({ namespace: 'b' }).events())).code, 'DABBA_E_FORBIDDEN');
    } finally {
      ac.abort();
      await following;
    }
  });

  test('two jobs of one name in two namespaces are apart (keys, tasks, views)', async () => {
    await admin.with({ namespace: 'a' }).putJob('twin', job('twin', 1, 0.1));
    await admin.with({ namespace: 'b' }).putJob('twin', job('twin', 2, 0.1));
    assert.equal((await admin.with({ namespace: 'a' }).getJob('twin')).replicas, 1);
    assert.equal((await admin.with({ namespace: 'b' }).getJob('twin')).replicas, 2);
    assert.ok(await t.store.get(keys.job('a:twin')));
    assert.ok(await t.store.get(keys.job('b:twin')));
    await waitFor('tasks of both', async () => {
      const a = await admin.with({ namespace: 'a' }).jobTasks('twin');
      const b = await admin.with({ namespace: 'b' }).jobTasks('twin');
      return a.length === 1 && b.length === 2 && [...a, ...b].every((r) => /^twin-[a-z0-9]{5}$/.test(r.id));
    });
    const all = await admin.with({ namespace: '*' }).listJobs();
    assert.deepEqual(
      all.filter((j) => j.job === 'twin').map((j) => j.namespace),
      ['a', 'b'],
    );
  });

  test('a quota of 1 CPU refuses 1.5 CPUs with the numbers, storing nothing; a fitting deploy goes through; usage follows the tasks', async () => {
    await admin.createNamespace('q', { cpu: 1 });
    const q = admin.with({ namespace: 'q' });
    const rev = await t.store.revision();
    const e = await refusal(q.putJob('big', job('big', 3, 0.5)));
    assert.equal(e.code, 'DABBA_E_QUOTA_EXCEEDED');
    assert.equal(e.message, 'namespace q: cpu 1.5 requested, quota 1, used 0: 0.5 over');
    assert.equal(e.details['httpStatus'], 403);
    assert.equal((await t.store.range(keys.namespaceJobsPrefix('q'))).kvs.length, 0, 'nothing stored');
    // Nothing at all: the audit record of the refusal is the only write.
    const changed = (await t.store.range('/')).kvs.filter(
      (kv) => kv.modRevision > rev && /^\/(jobs|jobversions|tasks|namespaces|deployments)\//.test(kv.key),
    );
    assert.deepEqual(
      changed.map((kv) => kv.key),
      [],
    );

    assert.equal((await q.putJob('fits', job('fits', 2, 0.5))).changed, true);
    const used = async (): Promise<number> =>
      (await admin.listNamespaces()).find((n) => n.name === 'q')?.used.cpu ?? -1;
    await waitFor('usage of the new tasks', async () => (await used()) === 1);
    const more = await refusal(q.putJob('more', job('more', 1, 0.25)));
    assert.equal(more.message, 'namespace q: cpu 0.25 requested, quota 1, used 1: 0.25 over');
    await q.stopJob('fits');
    await waitFor('usage back to 0 once the tasks go', async () => (await used()) === 0);
    assert.equal((await q.putJob('more', job('more', 1, 0.25))).changed, true);
  });

  test('two deploys racing for the last of a quota: one goes through', async () => {
    await admin.createNamespace('race', { cpu: 1 });
    const r = admin.with({ namespace: 'race' });
    const results = await Promise.allSettled([
      r.putJob('x', job('x', 1, 0.75)),
      r.putJob('y', job('y', 1, 0.75)),
      r.putJob('z', job('z', 1, 0.75)),
    ]);
    assert.equal(results.filter((x) => x.status === 'fulfilled').length, 1, JSON.stringify(results));
    for (const x of results) {
      if (x.status === 'rejected') assert.equal((x.reason as DabbaError).code, 'DABBA_E_QUOTA_EXCEEDED');
    }
  });

  test('a revoked token fails on the next request, on this replica and on another sharing the store', async () => {
    const other: RunningServer = await startServer({
      store: t.store,
      storeName: 'sqlite',
      host: '127.0.0.1',
      port: 0,
      logger: silentLogger,
      replicaId: 'second',
      clock,
    });
    try {
      const tok = await admin.createToken({ name: 'short', role: 'viewer' });
      const here = new DabbaClient({ addr: t.server.url, token: tok.token });
      const there = new DabbaClient({ addr: other.url, token: tok.token });
      await waitFor(
        'the other replica knows the token',
        async () =>
          await there.listJobs().then(
            () => true,
            () => false,
          ),
      );
      await here.listJobs();
      await admin.revokeToken('short');
      const e = await refusal(here.listJobs());
      assert.equal(e.code, 'DABBA_E_UNAUTHENTICATED');
      assert.equal(e.details['reason'], 'invalid');
      const started = Date.now();
      await waitFor(
        'the other replica refuses it',
        async () =>
          await there.listJobs().then(
            () => false,
            () => true,
          ),
      );
      assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    } finally {
      await other.close();
    }
  });

  test('an expired token fails (clock injected)', async () => {
    const tok = await admin.createToken({ name: 'ttl', role: 'viewer', ttl: '30m' });
    const c = new DabbaClient({ addr: t.server.url, token: tok.token });
    await c.listJobs();
    clock.advance(31 * 60_000);
    assert.equal((await refusal(c.listJobs())).code, 'DABBA_E_UNAUTHENTICATED');
  });

  test("a host credential acts only as its host: not another's heartbeat, registration, assignments, tasks' status or watch", async () => {
    const join = await admin.createToken({ name: 'join-h', role: 'agent' });
    const joiner = new DabbaClient({ addr: t.server.url, token: join.token });
    const h1 = new DabbaClient({ addr: t.server.url, token: (await joiner.join('h1')).credential });
    const h2 = new DabbaClient({ addr: t.server.url, token: (await joiner.join('h2')).credential });
    const capacity = { cpu: 4, memoryBytes: 2 ** 30, pids: 1000 };
    // h1 is too small for the task below: it lands on h2.
    await h1.registerHost({ id: 'h1', labels: {}, capacity: { ...capacity, cpu: 0.05 }, runtime: 'process' });
    const r2 = await h2.registerHost({ id: 'h2', labels: {}, capacity, runtime: 'process' });
    assert.equal(
      (await refusal(h1.registerHost({ id: 'h2', labels: {}, capacity, runtime: 'process' }))).code,
      'DABBA_E_FORBIDDEN',
    );
    assert.equal((await refusal(h1.heartbeat('h2', r2.lease))).code, 'DABBA_E_FORBIDDEN');
    assert.equal((await refusal(h1.assignments('h2'))).code, 'DABBA_E_FORBIDDEN');
    await h1.assignments('h1');
    // h2 gets a task; h1 may not write its status.
    await admin.putJob('placed', job('placed', 1, 0.1));
    const task = await waitFor('a task on h2', async () => (await h2.assignments('h2')).tasks[0]);
    const status = {
      id: task.id,
      job: task.job,
      host: 'h2',
      state: 'running' as const,
      healthy: true,
      ready: true,
      restarts: 0,
      updatedAt: Date.now(),
    };
    assert.equal((await refusal(h1.reportStatus(status))).code, 'DABBA_E_FORBIDDEN');
    // Claiming to be h1 in the body: the task is not assigned to h1.
    assert.equal((await refusal(h1.reportStatus({ ...status, host: 'h1' }))).code, 'DABBA_E_NOT_FOUND');
    await h2.reportStatus(status);
    const watch = refusal(
      (async () => {
        for await (const _b of h1.watch('/assign/h2/', undefined, AbortSignal.timeout(5000))) continue;
      })(),
    );
    assert.equal((await watch).code, 'DABBA_E_FORBIDDEN');
    // Nor anything a user does.
    assert.equal((await refusal(h1.listJobs())).code, 'DABBA_E_FORBIDDEN');
    assert.equal((await refusal(h1.hosts())).code, 'DABBA_E_FORBIDDEN');
    // A join token only joins.
    assert.equal(
      (await refusal(joiner.registerHost({ id: 'h3', labels: {}, capacity, runtime: 'process' }))).code,
      'DABBA_E_FORBIDDEN',
    );
    // Audit: the joins and registrations are recorded (not heartbeats nor status).
    const audit = await admin.audit();
    assert.ok(audit.some((a) => a.route === 'POST /v1/hosts/join' && a.who === 'join-h' && a.status === 200));
    assert.ok(audit.some((a) => a.route === 'POST /v1/hosts' && a.who === 'host:h1'));
    assert.ok(!audit.some((a) => a.route === 'PUT /v1/tasks/:id/status' || a.route.endsWith('/heartbeat')));
  });
});

describe('agents joining', () => {
  let t: TestServer;
  let admin: DabbaClient;

  before(async () => {
    t = await startTestServer('join');
    admin = t.client;
  });
  after(() => t.close());

  test('an agent without a join token or credential cannot register; with one it joins, stores its credential 0600 and reuses it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dabba-join-'));
    try {
      const base = {
        servers: t.server.url,
        dataDir: dir,
        hostId: 'joiner',
        labels: {},
        driver: 'process' as const,
      };
      const signal = new AbortController().signal;
      const e = await refusal(daemons.agent(base, signal));
      assert.equal(e.code, 'DABBA_E_UNAUTHENTICATED');
      assert.match(e.message, /--join-token/);
      const bad = await refusal(
        daemons.agent(
          { ...base, joinToken: 'dabba_not-a-real-token-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' },
          signal,
        ),
      );
      assert.equal(bad.code, 'DABBA_E_UNAUTHENTICATED');
      const tok = await admin.createToken({ name: 'join-agent', role: 'agent' });
      const a = await daemons.agent({ ...base, joinToken: tok.token }, signal);
      await a.close();
      const file = join(dir, 'host.credential');
      assert.equal((await stat(file)).mode & 0o777, 0o600);
      const credential = (await readFile(file, 'utf8')).trim();
      await admin.revokeToken('join-agent');
      const again = await daemons.agent(base, signal); // no join token: the stored credential
      await again.close();
      assert.equal((await readFile(file, 'utf8')).trim(), credential);
      assert.ok((await admin.hosts()).some((h) => h.id === 'joiner'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

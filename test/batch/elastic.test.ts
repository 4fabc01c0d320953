/**
 * Elastic compute on one real server (SQLite store, scheduler loop, pools broker) with an injected
 * clock and three agents in process on the fake runtime: a service whose schedule drops it from 3
 * replicas to 1 at 22:00 (UTC) frees two hosts, which are loaned to the batch pool where a batch job
 * waits (`dabba pool ls` shows the loans, their start and holder), and its tasks land on them; at 06:00 the schedule
 * wants 3 again: the loans are recalled, the batch tasks there are preempted, the hosts come back
 * to the online pool before their recall deadline (`recallWithin`), and the service runs 3
 * replicas again.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';

const HOSTS = ['el-h1', 'el-h2', 'el-h3'];
const DAY = 24 * 60 * 60 * 1000;

/** A clock that runs with real time from a settable offset (the test jumps it). */
class JumpClock {
  offset = 0;
  now(): number {
    return Date.now() + this.offset;
  }
  /** From now on the clock reads `minutes` after midnight UTC (today or tomorrow), minus `lead` ms. */
  setTimeOfDay(minutes: number, lead: number): void {
    const real = Date.now();
    const current = this.now();
    let target = current - (current % DAY) + minutes * 60_000 - lead;
    if (target < current) target += DAY;
    this.offset = target - real;
  }
}

describe('elastic compute', { timeout: 300_000 }, () => {
  let t: TestServer;
  const clock = new JumpClock();
  const agents: (() => Promise<void>)[] = [];

  before(async () => {
    clock.setTimeOfDay(21 * 60 + 59, 0);
    t = await startTestServer('elastic', { clock, hostTtlSeconds: 10, recallWithinMs: 60_000 });
    for (const id of HOSTS) {
      const a = await startAgent({
        client: t.client,
        runtime: new FakeRuntime(),
        hostId: id,
        labels: {},
        dataDir: join(t.dir, id),
        logger: silentLogger,
        capacity: { cpu: 2, memoryBytes: 4 * 2 ** 30, pids: 4096 },
      });
      agents.push(() => a.close({ stopTasks: true }));
    }
  });
  after(async () => {
    for (const stop of agents) await stop().catch(() => undefined);
    await t.close();
  });

  const running = async (job: string): Promise<{ id: string; host: string | null }[]> =>
    (await t.client.jobTasks(job)).filter((x) => x.desired === 'run' && x.state === 'running');

  test('scale down on a schedule, loan the freed hosts to batch, recall them at the peak', async () => {
    await t.client.putJob('web', {
      name: 'web',
      replicas: 3,
      pool: 'online',
      scaling: {
        minReplicas: 1,
        maxReplicas: 3,
        schedule: [
          { at: '06:00', replicas: 3 },
          { at: '22:00', replicas: 1 },
        ],
      },
      // A whole host each.
      task: { command: ['serve'], resources: { cpu: 2, memory: '64Mi' } },
      update: { minHealthy: '0s' },
    });
    await waitFor('web: 3 replicas', async () => (await running('web')).length === 3 || undefined, 60_000);
    // Batch work of the batch pool waits: no host is in that pool yet.
    await t.client.putJob('crunch', {
      name: 'crunch',
      type: 'batch',
      pool: 'batch',
      completions: 50,
      parallelism: 4,
      task: { command: ['work'], resources: { cpu: 1, memory: '16Mi' } },
    });
    await waitFor(
      'crunch waiting for a host',
      async () => (await t.client.jobTasks('crunch')).some((x) => x.host === null) || undefined,
      30_000,
    );
    assert.equal((await t.client.pools()).loans.length, 0, 'no loan while online uses every host');

    // 22:00: the schedule gives 1 replica; two hosts empty out and are loaned to batch.
    clock.setTimeOfDay(22 * 60, 0);
    const loaned = await waitFor(
      'two hosts loaned to batch',
      async () => {
        const v = await t.client.pools();
        return v.loans.filter((l) => l.holder === 'batch' && l.recall === undefined).length === 2
          ? v
          : undefined;
      },
      90_000,
    );
    const loanedHosts = new Set(loaned.loans.map((l) => l.host));
    const webHost = (await running('web'))[0]?.host;
    assert.ok(webHost !== undefined && webHost !== null && !loanedHosts.has(webHost));
    for (const l of loaned.loans) {
      assert.equal(l.from, 'online');
      assert.ok(l.start >= clock.now() - 120_000 && l.start <= clock.now(), 'a loan has its start');
    }
    const batchPool = loaned.pools.find((p) => p.name === 'batch');
    assert.equal(batchPool?.loanedIn, 2);
    const ls = await cli(['pool', 'ls'], { addr: t.server.url });
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /online\s+1\s+1\s+3\s+2\s+0/);
    for (const h of loanedHosts) assert.match(ls.stdout, new RegExp(`${h}\\s+online\\s+batch\\s+\\d{4}-`));

    // The batch work lands on the loaned hosts.
    const batchHosts = await waitFor(
      'batch tasks on the loaned hosts',
      async () => {
        const r = await running('crunch');
        return r.length === 4 ? new Set(r.map((x) => x.host)) : undefined;
      },
      60_000,
    );
    assert.deepEqual([...batchHosts].sort(), [...loanedHosts].sort(), 'batch runs on the loans only');

    // 06:00: the schedule wants 3 again: the loans are recalled, batch tasks preempted, hosts back.
    clock.setTimeOfDay(6 * 60, 0);
    const recalled = await waitFor(
      'loans recalled',
      async () => {
        const v = await t.client.pools();
        return v.loans.some((l) => l.recall !== undefined) ? v : undefined;
      },
      60_000,
    );
    const deadlines = new Map(recalled.loans.flatMap((l) => (l.recall ? [[l.host, l.recall.deadline]] : [])));
    await waitFor(
      'web: 3 replicas again, no loan left',
      async () => {
        const v = await t.client.pools();
        return ((await running('web')).length === 3 && v.loans.length === 0) || undefined;
      },
      120_000,
    );
    const events = await t.client.events({ limit: 500 });
    const returned = events.filter((e) => e.kind === 'pool.returned');
    assert.equal(returned.length, 2, 'both hosts came back');
    for (const e of returned) {
      const host = e.host ?? '';
      const deadline = deadlines.get(host);
      if (deadline !== undefined) assert.ok(e.at <= deadline, `${host} back before its recall deadline`);
    }
    assert.ok(
      events.some((e) => e.kind === 'task.preempted' && e.message.includes('recalled to pool online')),
    );
    const pools = await t.client.pools();
    assert.equal(pools.pools.find((p) => p.name === 'online')?.effective, 3);
    // The batch job is still there, waiting for room (it resumes when hosts are loaned again).
    const crunch = await t.client.getJob('crunch');
    assert.equal(crunch.batch?.state, 'running');
    assert.equal(crunch.batch.failed, 0);
    await t.client.stopJob('crunch');
  });
});

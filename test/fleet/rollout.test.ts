/**
 * Rolling updates on a real fleet under steady client load: 4 replicas on 4 hosts (network
 * namespaces) in 2 racks, a client fetching GET / from every serving task all along.
 * - a good update (new env) never leaves fewer than replicas - maxUnavailable tasks serving, and
 *   clients keep getting answers (only requests to tasks being stopped may fail);
 * - a bad version (its command exits at once) is rolled back automatically, `dabba deploy` exits 1
 *   saying why, and clients keep getting answers throughout.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  JobWatcher,
  Load,
  formatReport,
  helloJob,
  netnsUnavailable,
  report,
  serving,
  startTestbed,
  type Testbed,
} from '../../scripts/testbed/index.ts';
import { getText } from '../helpers/dev-cluster.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const REPLICAS = 4;
const MAX_UNAVAILABLE = 1;

function web(greeting: string, command?: string[]): string {
  return helloJob({
    name: 'web',
    replicas: REPLICAS,
    greeting,
    spread: [{ attribute: 'rack' }],
    maxUnavailable: MAX_UNAVAILABLE,
    maxSurge: 1,
    ...(command ? { command } : {}),
  });
}

describe('rolling updates under load on a 4-host testbed', { skip }, () => {
  let tb: Testbed;
  let watcher: JobWatcher | undefined;
  let load: Load | undefined;

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 4, racks: 2 });
    const r = await tb.cli(['deploy', tb.writeJob('web-v1', web('one'))]);
    assert.equal(r.code, 0, `initial deploy failed:\n${r.stdout}\n${r.stderr}\n${tb.logs(15)}`);
  });
  after(async () => {
    await load?.stop();
    await watcher?.stop();
    await tb?.stop();
  });

  /** Watches the job and keeps a client load on it while `fn` runs (plus a second either side). */
  async function underLoad<T>(
    name: string,
    fn: () => Promise<T>,
  ): Promise<{ result: T; from: number; to: number }> {
    watcher = new JobWatcher(tb.url, 'web', undefined, tb.adminToken, tb.caFile);
    await watcher.start();
    const w = watcher;
    load = new Load({ targets: () => w.targets(), durationMs: 60_000, maxRequests: 20_000 });
    load.start();
    await new Promise((r) => setTimeout(r, 1000));
    const from = Date.now();
    const result = await fn();
    const to = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    await load.stop();
    await watcher.stop();
    const rep = report(load.records, watcher);
    const min = watcher.minServing(from, to);
    console.log(formatReport(name, rep));
    console.log(
      `${name}: fewest serving tasks ${min.count} (${min.tasks.join(', ')}); took ${((to - from) / 1000).toFixed(1)} s; ` +
        `${watcher.snapshots.length} views`,
    );
    assert.ok(rep.requests >= 100, `the load sent ${rep.requests} requests`);
    assert.ok(
      min.count >= REPLICAS - MAX_UNAVAILABLE,
      `serving tasks dropped to ${min.count} (< ${REPLICAS} - ${MAX_UNAVAILABLE}) at ${new Date(min.at).toISOString()}`,
    );
    assert.ok(
      rep.successRate >= 0.99,
      `success ${rep.successRate}; failures not explained by a stopping task: ${JSON.stringify(rep.unexcused.slice(0, 5))}`,
    );
    return { result, from, to };
  }

  test('a rolling update keeps replicas - maxUnavailable serving and clients answered', async () => {
    const { result: r } = await underLoad('rolling update', () =>
      tb.cli(['deploy', tb.writeJob('web-v2', web('two'))]),
    );
    assert.equal(r.code, 0, `deploy v2 failed:\n${r.stdout}\n${r.stderr}`);
    const v = await tb.job('web');
    assert.equal(v.version, 2);
    const live = v.tasks.filter(serving);
    assert.equal(live.length, REPLICAS);
    for (const t of live) {
      assert.equal(t.version, 2);
      const body = await getText(`http://${t.address}:${t.ports['http']}/`);
      assert.match(body, new RegExp(`^two from ${t.id} `));
    }
  });

  test('a bad version is rolled back automatically and clients keep getting answers', async () => {
    const bad = web('three', ['sh', '-c', 'echo bad version; exit 3']);
    // Under load from the deploy until the rollback (version 4, the spec of version 2) has settled.
    const { result: r } = await underLoad('bad version', async () => {
      const deployed = await tb.cli(['deploy', tb.writeJob('web-v3', bad)]);
      const until = Date.now() + 30_000;
      for (;;) {
        const v = await tb.job('web');
        if (
          v.version === 4 &&
          v.deployment?.state === 'succeeded' &&
          v.tasks.filter(serving).length === REPLICAS
        ) {
          return deployed;
        }
        assert.ok(Date.now() < until, `rollback did not settle: ${JSON.stringify(v.deployment)}`);
        await new Promise((res) => setTimeout(res, 250));
      }
    });
    assert.equal(r.code, 1, `deploy of the bad version should fail:\n${r.stdout}\n${r.stderr}`);
    console.log(`dabba deploy said: ${r.stderr.trim()}`);
    assert.match(r.stderr, /version 3/);
    assert.match(r.stderr, /exit code 3/);
    assert.match(r.stderr, /rollback|rolled back/);
    const v = await tb.job('web');
    assert.equal(v.version, 4);
    assert.equal(v.tasks.filter((t) => t.desired === 'run').length, REPLICAS);
    for (const t of v.tasks.filter(serving)) {
      const body = await getText(`http://${t.address}:${t.ports['http']}/`);
      assert.match(body, new RegExp(`^two from ${t.id} `));
    }
  });
});

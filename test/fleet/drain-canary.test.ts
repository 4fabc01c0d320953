/**
 * Drain and canaries on a real fleet (3 network-namespace hosts): a drain with a deadline empties
 * the host within it while every job keeps its budget; a drain whose tasks cannot go anywhere is
 * forced at the deadline; a canary pauses the rollout until `dabba promote`.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HostView, JobView } from '../../src/model/index.ts';
import { helloJob, netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

describe('drain and canaries on a 3-host testbed', { skip }, () => {
  let tb: Testbed;

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 3, racks: 3 });
  });
  after(async () => {
    await tb?.stop();
  });

  async function status(job: string): Promise<JobView> {
    const r = await tb.cli(['status', job, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as JobView;
  }
  async function hosts(): Promise<HostView[]> {
    return JSON.parse((await tb.cli(['hosts', '--json'])).stdout) as HostView[];
  }
  async function deploy(name: string, yaml: string): Promise<void> {
    const r = await tb.cli(['deploy', tb.writeJob(name, yaml)]);
    assert.equal(r.code, 0, `deploy ${name} failed:\n${r.stdout}\n${r.stderr}\n${tb.logs(15)}`);
  }
  const healthy = (v: JobView): number =>
    v.tasks.filter((t) => t.desired === 'run' && t.state === 'running' && t.healthy).length;

  test('drain with a deadline empties the host in time and keeps every job within its budget', async () => {
    await deploy('alpha', helloJob({ name: 'alpha', replicas: 3, spread: [{ attribute: 'rack' }] }));
    await deploy('beta', helloJob({ name: 'beta', replicas: 2, maxUnavailable: 1 }));
    const onHost = (v: JobView): number => v.tasks.filter((t) => t.host === 'tb-0').length;
    assert.ok(onHost(await status('alpha')) + onHost(await status('beta')) > 0, 'tb-0 has tasks to move');

    let minAlpha = Infinity;
    let minBeta = Infinity;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minAlpha = Math.min(minAlpha, healthy(await status('alpha')));
        minBeta = Math.min(minBeta, healthy(await status('beta')));
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    const started = Date.now();
    const r = await tb.cli(['host', 'drain', 'tb-0', '--deadline', '30s']);
    const took = Date.now() - started;
    sampling = false;
    await sampler;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /host tb-0 is drained/);
    assert.ok(took < 30_000, `drained within the deadline (${took} ms)`);
    console.log(`drain of tb-0: ${took} ms; fewest healthy: alpha ${minAlpha}/3, beta ${minBeta}/2`);
    assert.ok(minAlpha >= 2, `alpha never below replicas - maxUnavailable (saw ${minAlpha})`);
    assert.ok(minBeta >= 1, `beta never below replicas - maxUnavailable (saw ${minBeta})`);
    const a = await status('alpha');
    const b = await status('beta');
    assert.equal(onHost(a) + onHost(b), 0);
    assert.equal(healthy(a), 3);
    assert.equal(healthy(b), 2);
    const h = (await hosts()).find((x) => x.id === 'tb-0');
    assert.equal(h?.state, 'draining');
    assert.equal(h?.tasks, 0);
    assert.equal((await tb.cli(['host', 'uncordon', 'tb-0'])).code, 0);
  });

  test('tasks that cannot move are stopped at the deadline', async () => {
    await deploy(
      'pinned',
      helloJob({ name: 'pinned', replicas: 1, constraints: [{ attribute: 'host.id', equals: 'tb-1' }] }),
    );
    const started = Date.now();
    const r = await tb.cli(['host', 'drain', 'tb-1', '--deadline', '3s']);
    const took = Date.now() - started;
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.ok(took >= 2500 && took < 15_000, `forced at the deadline (${took} ms)`);
    const v = await status('pinned');
    const live = v.tasks.filter((t) => t.desired === 'run');
    assert.equal(live.length, 1);
    assert.equal(live[0]?.host, null, 'the replacement waits, unplaced, with its reason');
    assert.match(live[0]?.unplaced ?? '', /tb-1/);
    const events = (await tb.cli(['status', 'pinned'])).stdout;
    assert.match(events, /Unplaced|no host fits/);
    assert.equal((await tb.cli(['host', 'uncordon', 'tb-1'])).code, 0);
    await tb.cli(['stop', 'pinned']);
  });

  test('a canary pauses the rollout until promoted', async () => {
    await deploy('gamma', helloJob({ name: 'gamma', replicas: 3, greeting: 'one' }));
    const v2 = helloJob({ name: 'gamma', replicas: 3, greeting: 'two' }).replace(
      '"minHealthy": "1s",',
      '"minHealthy": "1s",\n    "canary": 1,',
    );
    const r = await tb.cli(['deploy', tb.writeJob('gamma', v2)]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /paused for promotion: dabba promote gamma/);
    await new Promise((res) => setTimeout(res, 2000));
    const paused = await status('gamma');
    const live = paused.tasks.filter((t) => t.desired === 'run');
    assert.equal(live.filter((t) => t.version === 2).length, 1, 'one canary');
    assert.equal(live.filter((t) => t.version === 1).length, 3, 'the old version keeps serving');
    assert.equal(paused.deployment?.phase, 'paused');
    const p = await tb.cli(['promote', 'gamma']);
    assert.equal(p.code, 0, `${p.stdout}\n${p.stderr}`);
    const done = await status('gamma');
    assert.equal(done.deployment?.state, 'succeeded');
    assert.ok(done.tasks.filter((t) => t.desired === 'run').every((t) => t.version === 2));
    const again = await tb.cli(['promote', 'gamma']);
    assert.equal(again.code, 5, 'nothing to promote is a conflict');
  });
});

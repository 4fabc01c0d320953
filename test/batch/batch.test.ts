/**
 * Batch jobs end to end: one real server (SQLite store, scheduler loop) and two agents in process on
 * the real process runtime (real processes, real SIGTERM), 3 CPUs each. A batch job of 20
 * completions with parallelism 5 whose completion 7 fails its first run completes, with that run
 * retried, never more than 5 tasks at once, and `dabba status` says so. A service that needs the
 * room a batch job holds preempts some of its tasks (they get SIGTERM and exit by themselves within
 * their grace period), starts, and the batch job resumes and completes, the preempted runs not
 * counted as failures.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';

const HOSTS = ['b-h1', 'b-h2'];

describe('batch jobs', { timeout: 420_000 }, () => {
  let t: TestServer;
  const agents: { agent: RunningAgent; runtime: ProcessRuntime }[] = [];

  before(async () => {
    t = await startTestServer('batch', { hostTtlSeconds: 10 });
    for (const id of HOSTS) {
      const runtime = new ProcessRuntime({ stateDir: join(t.dir, id, 'runtime'), logger: silentLogger });
      const agent = await startAgent({
        client: t.client,
        runtime,
        hostId: id,
        labels: {},
        dataDir: join(t.dir, id),
        logger: silentLogger,
        capacity: { cpu: 3, memoryBytes: 4 * 2 ** 30, pids: 4096 },
        hostHistory: false,
        metrics: { intervalMs: 0 },
      });
      agents.push({ agent, runtime });
    }
  });
  after(async () => {
    for (const a of agents) {
      await a.agent.close({ stopTasks: true }).catch(() => undefined);
      await a.runtime.close().catch(() => undefined);
    }
    await t.close();
  });

  test('20 completions, parallelism 5: a run that fails once is retried and the job succeeds', async () => {
    const out = join(t.dir, 'runs');
    await mkdir(out, { recursive: true });
    // Each run leaves a file; completion 7 fails its first attempt.
    const script =
      'echo "$DABBA_TASK_ID" > "$OUT/$DABBA_COMPLETION_INDEX.$DABBA_ATTEMPT"; sleep 0.3; ' +
      'if [ "$DABBA_COMPLETION_INDEX" = 7 ] && [ "$DABBA_ATTEMPT" = 1 ]; then exit 3; fi';
    await t.client.putJob('crunch', {
      name: 'crunch',
      type: 'batch',
      completions: 20,
      parallelism: 5,
      retries: { limit: 2, backoff: '1s' },
      deadline: '10m',
      task: { command: ['sh', '-c', script], env: { OUT: out }, resources: { cpu: 0.5, memory: '16Mi' } },
    });
    let most = 0;
    const view = await waitFor(
      'crunch finished',
      async () => {
        const v = await t.client.getJob('crunch');
        const active = v.tasks.filter((x) => x.desired === 'run').length;
        most = Math.max(most, active);
        return v.batch !== undefined && v.batch.state !== 'running' ? v : undefined;
      },
      240_000,
      100,
    );
    assert.equal(view.batch?.state, 'succeeded', view.batch?.message);
    assert.equal(view.batch.succeeded, 20);
    assert.equal(view.batch.failed, 1);
    assert.ok(most <= 5, `at most parallelism tasks at once (saw ${most})`);
    const runs = (await readdir(out)).sort();
    assert.ok(runs.includes('7.1') && runs.includes('7.2'), `completion 7 ran twice: ${runs.join(' ')}`);
    for (let i = 0; i < 20; i++) assert.ok(runs.includes(`${i}.1`), `completion ${i} ran`);
    assert.equal(runs.length, 21, 'every other completion ran once');
    const events = await t.client.events({ job: 'crunch', limit: 200 });
    assert.ok(
      events.some((e) => e.kind === 'task.failed' && e.message.includes('completion 7, attempt 1')),
      'the failed run is an event',
    );
    const status = await cli(['status', 'crunch'], { addr: t.server.url });
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /batch succeeded {2}20\/20 completions succeeded, 1 failed run/);
    const list = await cli(['status'], { addr: t.server.url });
    assert.match(list.stdout, /crunch\s+1\s+batch succeeded\s+20\/20 done/);
  });

  test('a service preempts batch tasks gracefully, and the batch job resumes and completes', async () => {
    const out = join(t.dir, 'terms');
    await mkdir(out, { recursive: true });
    // Long runs that note a SIGTERM before exiting (the grace period is 20 s: no SIGKILL needed).
    const script =
      'trap \'echo "$DABBA_COMPLETION_INDEX" > "$OUT/$DABBA_TASK_ID"; exit 143\' TERM; sleep 12 & wait';
    await t.client.putJob('fill', {
      name: 'fill',
      type: 'batch',
      completions: 6,
      parallelism: 6,
      task: {
        command: ['sh', '-c', script],
        env: { OUT: out },
        resources: { cpu: 1, memory: '16Mi' },
        stopGracePeriod: '20s',
      },
    });
    await waitFor(
      'fill: 6 tasks running on full hosts',
      async () => {
        const v = await t.client.getJob('fill');
        return v.tasks.filter((x) => x.desired === 'run' && x.state === 'running').length === 6 || undefined;
      },
      60_000,
    );
    // Both hosts are full (3 x 1 CPU each): the service fits only where batch tasks leave.
    await t.client.putJob('web', {
      name: 'web',
      replicas: 2,
      task: { command: ['sleep', '100000'], resources: { cpu: 1.5, memory: '16Mi' } },
      update: { minHealthy: '0s' },
    });
    const preempted = new Set<string>();
    await waitFor(
      'web running',
      async () => {
        const f = await t.client.getJob('fill');
        for (const x of f.tasks) if (x.preempted !== undefined) preempted.add(x.id);
        const w = await t.client.getJob('web');
        return w.tasks.filter((x) => x.desired === 'run' && x.state === 'running').length === 2 || undefined;
      },
      120_000,
      100,
    );
    const fill = await waitFor(
      'fill finished',
      async () => {
        const v = await t.client.getJob('fill');
        for (const x of v.tasks) if (x.preempted !== undefined) preempted.add(x.id);
        return v.batch !== undefined && v.batch.state !== 'running' ? v : undefined;
      },
      240_000,
    );
    assert.equal(fill.batch?.state, 'succeeded', fill.batch?.message);
    assert.equal(fill.batch.succeeded, 6);
    assert.equal(fill.batch.failed, 0, 'preempted runs are not failures');
    assert.ok(fill.batch.preempted >= 2, `batch tasks were preempted (${fill.batch.preempted})`);
    // Each preempted task got SIGTERM and ran its handler (a SIGKILL leaves no note).
    const noted = await readdir(out);
    assert.ok(preempted.size >= 2, `saw preempted tasks in status (${preempted.size})`);
    for (const id of preempted) assert.ok(noted.includes(id), `${id} got SIGTERM and exited by itself`);
    const index = await readFile(join(out, [...preempted][0] ?? ''), 'utf8');
    assert.match(index.trim(), /^[0-5]$/);
    const events = await t.client.events({ job: 'fill', limit: 500 });
    assert.ok(events.some((e) => e.kind === 'task.preempted' && e.message.includes('service web')));
    // The service kept its room: both replicas still run.
    const web = await t.client.getJob('web');
    assert.equal(web.tasks.filter((x) => x.desired === 'run' && x.state === 'running').length, 2);
    await t.client.stopJob('web');
  });
});

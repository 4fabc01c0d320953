/**
 * Counters end to end on the testbed (2 hosts, agents collecting every 2 s): examples/hello counts
 * its requests with the counter SDK and declares task.metrics; after exactly N requests (a known
 * number per task) `dabba metrics hello_requests_total --rate` gives each task's increase and the
 * job's sum exactly. Then the server is stopped, more requests are sent, the agents keep collecting
 * into their spools, and the server comes back on the same data dir: the points collected while it
 * was down arrive, one per collection, with no gap and no duplicate.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView, MetricsQueryResult } from '../../src/model/index.ts';
import { helloJob, netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const INTERVAL_MS = 2000;
/** Requests sent to each of the three tasks, before and during the outage. */
const BEFORE = [5, 7, 9];
const DURING = [4, 6, 3];

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: Error | undefined;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e instanceof Error ? e : new Error(String(e));
    }
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('counters from a task to dabba metrics, through a server outage', { skip }, () => {
  let tb: Testbed;
  let tasks: { id: string; url: string }[] = [];

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 2, agentArgs: ['--metrics-interval', `${INTERVAL_MS}ms`] });
    const file = tb.writeJob('hello', helloJob({ name: 'hello', replicas: 3, metrics: true }));
    const r = await tb.cli(['deploy', file]);
    assert.equal(r.code, 0, `deploy failed:\n${r.stdout}\n${r.stderr}\n${tb.logs(15)}`);
    const view: JobView = await tb.job('hello');
    tasks = view.tasks.map((t) => ({ id: t.id, url: `http://${t.address ?? ''}:${t.ports['http'] ?? 0}/` }));
    assert.equal(tasks.length, 3);
  });
  after(async () => {
    await tb?.stop();
  });

  async function metrics(args: string[]): Promise<MetricsQueryResult> {
    const r = await tb.cli(['metrics', 'hello_requests_total', '--where', 'job=hello', ...args, '--json']);
    assert.equal(r.code, 0, `dabba metrics ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as MetricsQueryResult;
  }

  /** The latest collected value of each task's counter (undefined until every task has one). */
  async function latest(): Promise<Map<string, number> | undefined> {
    const r = await metrics(['--since', '10m', '--step', '1s', '--over', 'max']);
    const m = new Map<string, number>();
    for (const s of r.series) {
      const last = s.points.at(-1);
      if (last && s.labels['task'] !== undefined) m.set(s.labels['task'], last[1]);
    }
    return tasks.every((t) => m.has(t.id)) ? m : undefined;
  }

  async function send(counts: number[]): Promise<void> {
    for (const [i, t] of tasks.entries()) {
      for (let k = 0; k < (counts[i] ?? 0); k++) {
        const res = await fetch(t.url);
        assert.equal(res.status, 200);
        await res.text();
      }
    }
  }

  /** Each task's increase over the last 10 minutes, from the per-second rate (sum of rate × step). */
  function increases(r: MetricsQueryResult, label: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const s of r.series) {
      const total = s.points.reduce((n, [, v]) => n + v * (r.step / 1000), 0);
      out.set(s.labels[label] ?? '', total);
    }
    return out;
  }

  const exact = (got: number | undefined, want: number, what: string): void => {
    assert.ok(got !== undefined && Math.abs(got - want) < 1e-6, `${what}: ${got} != ${want}`);
  };

  test('N requests: the rate per task and summed by job give exactly N', async () => {
    // Every task's counter has been collected at 0 before any request.
    const zero = await until('a first collection of every task', latest);
    for (const t of tasks) assert.equal(zero.get(t.id), 0, `${t.id} starts at 0`);
    const sentAt = Date.now();
    await send(BEFORE);
    const seen = await until('the requests in the collected counters', async () => {
      const m = await latest();
      return m && tasks.every((t, i) => m.get(t.id) === BEFORE[i]) ? m : undefined;
    });
    const tookMs = Date.now() - sentAt;
    assert.ok(seen);
    // Recorded, not asserted (no timing assertions): how many intervals it took to show.
    console.log(
      `collected within ${tookMs} ms (${(tookMs / INTERVAL_MS).toFixed(1)} intervals of ${INTERVAL_MS} ms)`,
    );

    const perTask = increases(
      await metrics(['--rate', '--by', 'task', '--since', '10m', '--step', '1m']),
      'task',
    );
    tasks.forEach((t, i) => exact(perTask.get(t.id), BEFORE[i] ?? 0, `increase of ${t.id}`));
    const byJob = increases(
      await metrics(['--rate', '--by', 'job', '--since', '10m', '--step', '1m']),
      'job',
    );
    exact(
      byJob.get('hello'),
      BEFORE.reduce((a, b) => a + b, 0),
      'increase of job hello',
    );
  });

  test('points collected while the server is down arrive after, no gap, no duplicate', async () => {
    const stoppedAt = Date.now();
    await tb.stopServer();
    await send(DURING);
    // The agents keep collecting: their spools fill with the batches the server cannot take.
    await new Promise((r) => setTimeout(r, 6 * INTERVAL_MS));
    const spooled = tb.hosts.map((h) =>
      readdirSync(join(h.dataDir, 'metrics-spool')).filter((f) => f.endsWith('.json.gz')),
    );
    assert.ok(
      spooled.every((f) => f.length >= 2),
      `every agent spooled batches: ${spooled.map((f) => f.length).join(', ')}`,
    );
    const restartedAt = Date.now();
    await tb.startServer();

    const want = tasks.map((_, i) => (BEFORE[i] ?? 0) + (DURING[i] ?? 0));
    await until('the outage requests in the collected counters', async () => {
      const m = await latest();
      return m && tasks.every((t, i) => m.get(t.id) === want[i]) ? m : undefined;
    });
    await until('the spools drained', () =>
      Promise.resolve(
        tb.hosts.every((h) =>
          readdirSync(join(h.dataDir, 'metrics-spool')).every((f) => !f.endsWith('.json.gz')),
        )
          ? true
          : undefined,
      ),
    );

    const perTask = increases(
      await metrics(['--rate', '--by', 'task', '--since', '10m', '--step', '1m']),
      'task',
    );
    tasks.forEach((t, i) => exact(perTask.get(t.id), want[i] ?? 0, `increase of ${t.id}`));
    const byJob = increases(
      await metrics(['--rate', '--by', 'job', '--since', '10m', '--step', '1m']),
      'job',
    );
    exact(
      byJob.get('hello'),
      want.reduce((a, b) => a + b, 0),
      'increase of job hello',
    );

    // One point per collection: in 1 s steps each step holds at most one point of a task, and
    // across the outage the points keep coming at the collection interval (no hole).
    const counts = await metrics([
      '--by',
      'task',
      '--since',
      '5m',
      '--step',
      '1s',
      '--over',
      'count',
      '--agg',
      'sum',
    ]);
    for (const s of counts.series) {
      const task = s.labels['task'] ?? '?';
      for (const [t, c] of s.points) assert.equal(c, 1, `${task}: ${c} points in the second at ${t}`);
      const during = s.points.filter(([t]) => t >= stoppedAt && t <= restartedAt);
      assert.ok(during.length >= 2, `${task}: points from the outage (${during.length})`);
      const window = s.points.filter(([t]) => t >= stoppedAt - 10_000 && t <= restartedAt + 5_000);
      for (let i = 1; i < window.length; i++) {
        const gap = (window[i]?.[0] ?? 0) - (window[i - 1]?.[0] ?? 0);
        assert.ok(gap <= 3 * INTERVAL_MS, `${task}: a hole of ${gap} ms in the points around the outage`);
      }
    }
  });
});

/**
 * Losing a host on a real fleet: 4 hosts (network namespaces, each with its own agent) in 2 racks,
 * server --host-timeout 3s. The host's agent is killed (SIGKILL) and its link cut: its tasks are
 * replaced on other hosts, in the same rack (spread), within the host timeout and a few seconds. Then
 * the link comes back and the agent restarts: the host is ready again, the agent stops the tasks it
 * had left running, and no job runs more tasks than it asked for.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { JobView } from '../../src/model/index.ts';
import {
  helloJob,
  netnsUnavailable,
  serving,
  startTestbed,
  type Testbed,
  type TestbedHost,
} from '../../scripts/testbed/index.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;
const HOST_TIMEOUT_MS = 3000;
/** "within host timeout + a few seconds" */
const REPLACE_WITHIN_MS = HOST_TIMEOUT_MS + 7000;
const JOBS = { web: 4, side: 2 } as const;
type JobName = keyof typeof JOBS;

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('losing a host and getting it back (4 hosts, 2 racks)', { skip }, () => {
  let tb: Testbed;
  let victim: TestbedHost;
  /** Task processes left running on the victim when its agent died. */
  let orphans: number[] = [];

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({ hosts: 4, racks: 2, hostTimeout: `${HOST_TIMEOUT_MS / 1000}s` });
    for (const [name, replicas] of Object.entries(JOBS)) {
      const file = tb.writeJob(name, helloJob({ name, replicas, spread: [{ attribute: 'rack' }] }));
      const r = await tb.cli(['deploy', file]);
      assert.equal(r.code, 0, `deploy ${name} failed:\n${r.stdout}\n${r.stderr}\n${tb.logs(15)}`);
    }
  });
  after(async () => {
    await tb?.stop();
  });

  const rackOf = (host: string | null): string => tb.hosts.find((h) => h.id === host)?.rack ?? '?';

  function perRack(v: JobView): Record<string, number> {
    const out: Record<string, number> = {};
    for (const t of v.tasks.filter(serving)) out[rackOf(t.host)] = (out[rackOf(t.host)] ?? 0) + 1;
    return out;
  }

  async function views(): Promise<Record<JobName, JobView>> {
    return { web: await tb.job('web'), side: await tb.job('side') };
  }

  test('its tasks are replaced on other hosts within the host timeout + a few seconds, respecting spread', async () => {
    const before = await views();
    assert.deepEqual(perRack(before.web), { r0: 2, r1: 2 });
    assert.deepEqual(perRack(before.side), { r0: 1, r1: 1 });
    // The victim: a host with tasks of both jobs (side has 2 tasks on 2 of the 4 hosts).
    const sideHosts = new Set(before.side.tasks.map((t) => t.host));
    const chosen = tb.hosts.find((h) => sideHosts.has(h.id) && before.web.tasks.some((t) => t.host === h.id));
    assert.ok(chosen, 'a host runs tasks of both jobs');
    victim = chosen;
    const lost = new Set(
      Object.values(before)
        .flatMap((v) => v.tasks)
        .filter((t) => t.host === victim.id)
        .map((t) => t.id),
    );
    orphans = tb.taskPids(victim.index);
    assert.ok(orphans.length >= 1, `${victim.id} runs tasks`);

    const t0 = Date.now();
    await tb.killAgent(victim.index);
    tb.cutLink(victim.index);
    let downAt: number | undefined;
    let placedAt: number | undefined;
    let servingAt: number | undefined;
    let last: Record<JobName, JobView> | undefined;
    while (servingAt === undefined) {
      const elapsed = Date.now() - t0;
      assert.ok(
        elapsed < REPLACE_WITHIN_MS,
        `tasks of ${victim.id} not replaced within ${REPLACE_WITHIN_MS} ms: ${JSON.stringify(
          last && Object.values(last).map((v) => v.tasks.map((t) => [t.id, t.host, t.state, t.healthy])),
        )}\n${tb.logs(10)}`,
      );
      if (downAt === undefined) {
        const hs = await tb.hostViews();
        if (hs.find((h) => h.id === victim.id)?.state === 'down') downAt = Date.now();
      }
      last = await views();
      const all = Object.values(last).flatMap((v) => v.tasks);
      const replaced = (Object.keys(JOBS) as JobName[]).every((j) => {
        const run = last?.[j].tasks.filter((t) => t.desired === 'run') ?? [];
        return run.length === JOBS[j] && run.every((t) => t.host !== null && t.host !== victim.id);
      });
      if (replaced && placedAt === undefined) placedAt = Date.now();
      const live = (Object.keys(JOBS) as JobName[]).every(
        (j) => last?.[j].tasks.filter((t) => serving(t) && t.host !== victim.id).length === JOBS[j],
      );
      if (replaced && live && !all.some((t) => lost.has(t.id) && t.desired === 'run')) servingAt = Date.now();
      else await new Promise((r) => setTimeout(r, 100));
    }
    const s = (t: number | undefined): string =>
      t === undefined ? '?' : `${((t - t0) / 1000).toFixed(1)} s`;
    console.log(
      `host loss (${victim.id}, ${lost.size} tasks; --host-timeout ${HOST_TIMEOUT_MS / 1000}s): ` +
        `down after ${s(downAt)}, replacements placed after ${s(placedAt)}, all serving after ${s(servingAt)}`,
    );
    assert.ok(last);
    assert.deepEqual(perRack(last.web), { r0: 2, r1: 2 }, 'web is still spread 2 per rack');
    assert.deepEqual(perRack(last.side), { r0: 1, r1: 1 }, 'side is still spread 1 per rack');
    // The lost host's processes are still running, cut off: only its agent can stop them.
    assert.ok(orphans.every(pidAlive), 'the tasks on the lost host keep running while it is cut off');
    // And it is cut off: from its namespace the server cannot be reached.
    const probe = await tb.exec(victim.index, [
      process.execPath,
      '-e',
      // A TCP connection is enough to tell (the API is HTTPS: a fetch without the CA fails anyway).
      `require('node:net').connect(${Number(new URL(tb.url).port)}, ${JSON.stringify(new URL(tb.url).hostname)}).on('connect', () => process.exit(0)).on('error', () => process.exit(7)); setTimeout(() => process.exit(7), 1500)`,
    ]);
    assert.equal(
      probe.code,
      7,
      `the server is unreachable from ${victim.ns}: ${probe.stdout}${probe.stderr}`,
    );
  });

  test('back: the host is ready again, its stale tasks are stopped, no job runs more than it asked for', async () => {
    assert.ok(victim, 'needs the previous test');
    tb.restoreLink(victim.index);
    const t0 = Date.now();
    await tb.startAgent(victim.index);
    await tb.waitHosts('ready', [victim.id], 15_000);
    const readyAt = Date.now();
    const until = Date.now() + 20_000;
    while (orphans.some(pidAlive)) {
      assert.ok(
        Date.now() < until,
        `stale tasks on ${victim.id} still running: ${orphans.filter(pidAlive).join(', ')}`,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    const stoppedAt = Date.now();
    console.log(
      `host return (${victim.id}): ready after ${((readyAt - t0) / 1000).toFixed(1)} s, ` +
        `${orphans.length} stale task process(es) stopped after ${((stoppedAt - t0) / 1000).toFixed(1)} s`,
    );
    // Give the control plane a moment to do anything it would do about the returned host.
    await new Promise((r) => setTimeout(r, 2000));
    const vs = await views();
    const reportedPids = new Set<number>();
    for (const [name, replicas] of Object.entries(JOBS) as [JobName, number][]) {
      const v = vs[name];
      const running = v.tasks.filter((t) => t.state === 'running');
      assert.equal(running.length, replicas, `${name} runs ${running.length} tasks, asked for ${replicas}`);
      assert.equal(v.tasks.filter(serving).length, replicas);
      for (const t of running) {
        const host = tb.hosts.find((h) => h.id === t.host);
        assert.ok(
          host && t.pid !== null && tb.taskPids(host.index).includes(t.pid),
          `${t.id} runs on ${t.host}`,
        );
        reportedPids.add(t.pid);
      }
    }
    // And on the hosts themselves: exactly the task processes the jobs asked for, nothing stale.
    const actual = tb.hosts.flatMap((h) => tb.taskPids(h.index));
    assert.equal(actual.length, JOBS.web + JOBS.side, `task processes on the hosts: ${actual.join(', ')}`);
    assert.deepEqual(new Set(actual), reportedPids);
  });
});

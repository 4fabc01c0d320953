/**
 * Placement on a real fleet: 4 hosts (network namespaces, each with its own agent) in 2 racks.
 * Spread over racks, a constraint on a host label, and a task no host can take, explained.
 * Needs root (network namespaces); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { HostView, JobView } from '../../src/model/index.ts';
import { helloJob, netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

describe('placement on a 4-host, 2-rack testbed', { skip }, () => {
  let tb: Testbed;

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    // tb-0 and tb-1 (racks r0 and r1) have SSDs.
    tb = await startTestbed({ hosts: 4, racks: 2, labels: (i) => ({ disk: i < 2 ? 'ssd' : 'hdd' }) });
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
    const r = await tb.cli(['hosts', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as HostView[];
  }

  async function deploy(name: string, yaml: string): Promise<void> {
    const r = await tb.cli(['deploy', tb.writeJob(name, yaml)]);
    assert.equal(r.code, 0, `deploy ${name} failed:\n${r.stdout}\n${r.stderr}\n${tb.logs(15)}`);
  }

  function count(values: string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const v of values) out[v] = (out[v] ?? 0) + 1;
    return out;
  }

  /** Every task runs in its host's namespace and answers at its reported address. */
  async function checkTasksWhereReported(v: JobView): Promise<void> {
    for (const t of v.tasks) {
      const host = tb.hosts.find((h) => h.id === t.host);
      assert.ok(host, `task ${t.id} is on a testbed host (${t.host})`);
      assert.equal(t.address, host.address, `task ${t.id} is reachable at its host's address`);
      assert.ok(
        t.pid !== null && tb.taskPids(host.index).includes(t.pid),
        `pid of ${t.id} runs in ${host.ns}`,
      );
      const port = t.ports['http'];
      assert.ok(port !== undefined);
      const body = await (
        await fetch(`http://${t.address}:${port}/`, { signal: AbortSignal.timeout(3000) })
      ).text();
      assert.match(body, new RegExp(`from ${t.id} `));
    }
  }

  test('the hosts registered with their labels and addresses', async () => {
    const hs = await hosts();
    assert.deepEqual(
      hs.map((h) => [h.id, h.state, h.labels['rack'], h.labels['disk'], h.labels['region']]).sort(),
      [
        ['tb-0', 'ready', 'r0', 'ssd', 'tb'],
        ['tb-1', 'ready', 'r1', 'ssd', 'tb'],
        ['tb-2', 'ready', 'r0', 'hdd', 'tb'],
        ['tb-3', 'ready', 'r1', 'hdd', 'tb'],
      ],
    );
  });

  test('a job of 4 spread over racks lands 2 per rack', async () => {
    await deploy('spread', helloJob({ name: 'spread', replicas: 4, spread: [{ attribute: 'rack' }] }));
    const v = await status('spread');
    assert.equal(v.tasks.length, 4);
    const rackOf = new Map(tb.hosts.map((h) => [h.id, h.rack]));
    assert.deepEqual(count(v.tasks.map((t) => rackOf.get(t.host ?? '') ?? '?')), { r0: 2, r1: 2 });
    await checkTasksWhereReported(v);
  });

  test('a constraint on a label keeps the tasks on matching hosts (and still spread)', async () => {
    await deploy(
      'ssd',
      helloJob({
        name: 'ssd',
        replicas: 4,
        spread: [{ attribute: 'rack' }],
        constraints: [{ attribute: 'disk', equals: 'ssd' }],
      }),
    );
    const v = await status('ssd');
    assert.equal(v.tasks.length, 4);
    assert.deepEqual(count(v.tasks.map((t) => t.host ?? '?')), { 'tb-0': 2, 'tb-1': 2 });
    await checkTasksWhereReported(v);
  });

  test('plan shows where a job would go and why a task would not fit, changing nothing', async () => {
    const before = (await tb.cli(['status', '--json'])).stdout;
    const fits = await tb.cli([
      'plan',
      '--json',
      tb.writeJob('planned', helloJob({ name: 'planned', replicas: 4, spread: [{ attribute: 'rack' }] })),
    ]);
    assert.equal(fits.code, 0, fits.stderr);
    const p = JSON.parse(fits.stdout) as {
      add: { host: string | null; count: number }[];
      failures: unknown[];
    };
    const rackOf = new Map(tb.hosts.map((h) => [h.id, h.rack]));
    const perRack: Record<string, number> = {};
    for (const a of p.add)
      perRack[rackOf.get(a.host ?? '') ?? '?'] = (perRack[rackOf.get(a.host ?? '') ?? '?'] ?? 0) + a.count;
    assert.deepEqual(perRack, { r0: 2, r1: 2 });
    assert.deepEqual(p.failures, []);
    const huge = await tb.cli([
      'plan',
      tb.writeJob('huge-plan', helloJob({ name: 'huge', replicas: 2, cpu: 4 })),
    ]);
    assert.equal(huge.code, 1, 'a plan with unplaceable tasks exits 1');
    assert.match(huge.stdout, /2 tasks cannot be placed/);
    assert.match(huge.stdout, /needs 4 CPUs; the largest free is [\d.]+ on host tb-\d/);
    assert.equal((await tb.cli(['status', '--json'])).stdout, before, 'plan wrote nothing');
  });

  test('a job needing more CPU than any host has is unplaceable, and says why', async () => {
    const r = await tb.cli([
      'deploy',
      '--detach',
      tb.writeJob('huge', helloJob({ name: 'huge', replicas: 2, cpu: 4, spread: [{ attribute: 'rack' }] })),
    ]);
    assert.equal(r.code, 0, r.stderr);
    let v: JobView | undefined;
    const until = Date.now() + 15_000;
    for (;;) {
      v = await status('huge');
      if (v.tasks.length === 2 && v.tasks.every((t) => t.unplaced !== null)) break;
      assert.ok(Date.now() < until, `tasks of huge not explained: ${JSON.stringify(v.tasks)}`);
      await new Promise((res) => setTimeout(res, 250));
    }
    const hs = await hosts();
    const free = new Map(hs.map((h) => [h.id, h.capacity.cpu - h.allocated.cpu]));
    const largest = Math.max(...free.values());
    for (const t of v.tasks) {
      assert.equal(t.host, null);
      assert.notEqual(t.state, 'running');
      const why = t.unplaced ?? '';
      assert.match(why, /cpu 4/, why);
      assert.match(why, /too little cpu/, why);
      const m = /needs 4 CPUs; the largest free is ([\d.]+) on host (tb-\d)/.exec(why);
      assert.ok(m, `unplaced names the shortfall and the nearest fit: ${why}`);
      assert.ok(Math.abs(Number(m[1]) - largest) < 0.01, `largest free ${m[1]} = ${largest}`);
      assert.ok(Math.abs((free.get(m[2] ?? '') ?? -1) - largest) < 0.01, `${m[2]} has ${largest} free`);
      // The API carries the same reason as data.
      const e = t.explanation;
      assert.ok(e, 'the task row carries a structured explanation');
      assert.equal(e.summary, why);
      assert.equal(e.hosts, tb.hosts.length);
      assert.equal(
        e.filters.reduce((n, f) => n + f.rejected, 0),
        tb.hosts.length,
        'every host is rejected by one filter',
      );
      const fit = e.filters.find((f) => f.filter === 'resources-fit');
      assert.equal(fit?.rejected, tb.hosts.length);
      assert.equal(fit?.reasons[0]?.reason, 'too little cpu');
      assert.equal(e.nearest[0]?.host, m[2], 'the nearest fit is the host with the most CPU free');
      assert.ok((e.nearest[0]?.failed[0]?.shortfall?.cpu ?? 0) > 0);
      assert.ok(e.suggestions.some((s) => s.startsWith('needs 4 CPUs; the largest free is')));
    }
    console.log(`unplaced: ${v.tasks[0]?.unplaced}`);
    // `dabba status JOB` shows the explanation below the tasks.
    const shown = await tb.cli(['status', 'huge']);
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /2 tasks cannot be placed \(\S+, \S+\): no host fits cpu 4/);
    assert.match(shown.stdout, /\n {2}resources-fit: rejected 4 hosts\n {4}4 too little cpu \(tb-/);
    assert.match(shown.stdout, /\n {2}nearest fits:\n {4}tb-\d: too little cpu \(short [\d.]+ cpu\)/);
    assert.match(shown.stdout, /\n {2}to fit: needs 4 CPUs; the largest free is [\d.]+ on host tb-\d/);
    const stop = await tb.cli(['stop', 'huge']);
    assert.equal(stop.code, 0, stop.stderr);
  });

  test('stop removes every task process from the hosts', async () => {
    for (const job of ['spread', 'ssd']) {
      const r = await tb.cli(['stop', job]);
      assert.equal(r.code, 0, r.stderr);
    }
    const left = tb.hosts.flatMap((h) => tb.taskPids(h.index).map((p) => `${h.id}:${p}`));
    assert.deepEqual(left, []);
  });
});

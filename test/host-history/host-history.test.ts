/**
 * Host history end to end on a real `dabba dev` (process runtime; its agent records every 5 s): a
 * task running a busy loop is started and, after 15 s, stopped; once that moment is 30 s in the past,
 * `dabba host history HOST --at -30s --json` shows the loop among the busiest, attributed to its task;
 * `--prev`/`--next` step to the neighbouring snapshots; a later snapshot no longer has the process.
 * Only tokens that see every namespace may read a host's processes.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { HostHistorySnapshot, JobView } from '../../src/model/index.ts';
import { sleep } from '../../src/lib/index.ts';
import { DevCluster, waitFor } from '../helpers/dev-cluster.ts';

// A busy loop at normal priority. On a machine shared with other work (the other test files run
// beside this one) it gets its fair share, which may be less than a compiler's or another test's:
// the test wants it among the busiest few, with a real share of a core, not first. (A real-time
// loop would be first whatever else runs, but would take a core from every other test for 15 s.)
const SPIN = `name: spin
replicas: 1
task:
  command: ["sh", "-c", "while :; do :; done"]
  resources: { cpu: 1, memory: 32Mi }
  restart: { policy: never }
`;

describe('dabba host history (dev cluster, process runtime)', () => {
  let c: DevCluster;
  let host = '';
  let taskId = '';
  let runningSince = 0;

  before(async () => {
    c = await DevCluster.start();
    const hosts = await c.cli(['hosts', '--json']);
    assert.equal(hosts.code, 0, hosts.stderr);
    host = (JSON.parse(hosts.stdout) as { id: string }[])[0]?.id ?? '';
    assert.notEqual(host, '');
  });
  after(async () => {
    await c.destroy();
  });

  async function history(args: string[]): Promise<HostHistorySnapshot> {
    const r = await c.cli(['host', 'history', host, ...args, '--json']);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    return JSON.parse(r.stdout) as HostHistorySnapshot;
  }

  test('the busy loop of 30 s ago is at the top by CPU, with its task; prev/next are one flag away', async () => {
    const file = join(c.dataDir, 'spin.yaml');
    await writeFile(file, SPIN);
    const deploy = await c.cli(['deploy', file, '--detach']);
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
    taskId = await waitFor(
      'the spin task to run',
      async () => {
        const r = await c.cli(['status', 'spin', '--json']);
        const v = JSON.parse(r.stdout) as JobView;
        return v.tasks.find((t) => t.state === 'running')?.id;
      },
      60_000,
      500,
    );
    runningSince = Date.now();
    await sleep(15_000);
    const stop = await c.cli(['stop', 'spin']);
    assert.equal(stop.code, 0, `${stop.stdout}\n${stop.stderr}`);
    const stoppedAt = Date.now();

    // 30 s after a moment 8 s into the loop's run: the nearest snapshot (taken every 5 s) covers
    // 5 s that are all inside it.
    await sleep(Math.max(0, runningSince + 8_000 + 30_000 - Date.now()));
    const s = await history(['--at', '-30s']);
    const top = s.processes[0];
    const summary = s.processes
      .slice(0, 5)
      .map((p) => `${p.pid} ${p.cpuPercent}% ${p.task ?? '-'} ${p.command}`)
      .join('\n');
    assert.ok(
      s.time > runningSince && s.time < stoppedAt,
      `snapshot at ${s.time}, loop ${runningSince}-${stoppedAt}`,
    );
    assert.ok(top, 'no processes in the snapshot');
    const cpus = s.processes.map((p) => p.cpuPercent);
    assert.deepEqual(
      cpus,
      [...cpus].sort((a, b) => b - a),
      'top processes first',
    );
    const loop = s.processes.slice(0, 3).find((p) => p.command === 'sh -c while :; do :; done');
    assert.ok(loop, `the loop among the 3 busiest:\n${summary}`);
    assert.equal(loop.task, taskId);
    assert.equal(loop.job, 'spin');
    assert.equal(loop.namespace, 'default');
    assert.ok(loop.cpuPercent >= 20, `the loop had a real share of a core: ${loop.cpuPercent}%`);
    assert.ok(s.cpu.busyPercent > 0 && s.memory.totalBytes > 0);

    // One flag away: the snapshots before and after, which name this one as their next and previous.
    assert.ok(s.prev !== undefined && s.next !== undefined);
    const prev = await history(['--at', new Date(s.time).toISOString(), '--prev']);
    assert.equal(prev.time, s.prev);
    assert.equal(prev.next, s.time);
    const next = await history(['--at', String(s.time), '--next']);
    assert.equal(next.time, s.next);
    assert.equal(next.prev, s.time);

    // Now the loop is gone.
    const now = await history(['--at', 'now']);
    assert.ok(now.time > stoppedAt);
    assert.equal(
      now.processes.find((p) => p.pid === loop.pid && p.command === loop.command),
      undefined,
    );

    // The table for people: the busiest first (the loop among the 3 shown), with its task.
    const text = await c.cli(['host', 'history', host, '--at', String(s.time), '--top', '3']);
    assert.equal(text.code, 0, text.stderr);
    const rows = text.stdout.split('\n');
    const header = rows.findIndex((l) => l.startsWith('PID'));
    assert.match(rows[header + 1] ?? '', new RegExp(`^${top.pid}\\s`));
    assert.ok(
      rows
        .slice(header + 1, header + 4)
        .some((r) => new RegExp(`^${loop.pid}\\s.*${taskId}\\s+sh -c while`).test(r)),
      text.stdout,
    );
    assert.match(text.stdout, /--prev/);
  });

  test('a viewer of one namespace may not read a host history; one covering every namespace may', async () => {
    const url = `${c.url}/v1/hosts/${encodeURIComponent(host)}/history?at=now`;
    const token = async (name: string, ns: string): Promise<string> => {
      const r = await c.cli(['token', 'create', name, '--role', 'viewer', '--namespace', ns]);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    const narrow = await fetch(url, {
      headers: { authorization: `Bearer ${await token('narrow', 'default')}` },
    });
    assert.equal(narrow.status, 403);
    assert.equal(((await narrow.json()) as { code: string }).code, 'DABBA_E_FORBIDDEN');
    const wide = await fetch(url, { headers: { authorization: `Bearer ${await token('wide', '*')}` } });
    assert.equal(wide.status, 200, await wide.clone().text());
    assert.ok(((await wide.json()) as HostHistorySnapshot).processes.length > 0);
    const bad = await c.cli(['host', 'history', host, '--at', 'yesterday']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /not a time/);
  });
});

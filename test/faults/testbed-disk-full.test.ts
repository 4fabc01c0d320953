/**
 * An agent whose data dir fills up, on a two-host testbed (network namespaces, each with its own
 * `dabba agent` process and the process runtime; see docs/testbed.md): host tb-0's data dir is a
 * real 8 MB tmpfs, tb-1's is roomy. On tb-0 full: the chatty task there runs on (it would stop at
 * its first failed write: its writes go to the log writer's pipe and never fail), the agent keeps
 * heartbeating (the host stays ready past the host timeout), the host shows DiskFull, new tasks go
 * to tb-1, and `dabba logs` says how many bytes and lines were dropped since when. Enlarging the
 * tmpfs clears it all by itself: the condition, the window of drops, and tb-0 takes tasks again.
 * Needs root (network namespaces, mounts); DABBA_SKIP_NETNS=1 skips it.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, rename } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { HostView, JobView } from '../../src/model/index.ts';
import { netnsUnavailable, startTestbed, type Testbed } from '../../scripts/testbed/index.ts';
import { waitFor } from '../helpers/dev-cluster.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

const skip = process.env['DABBA_SKIP_NETNS'] === '1' ? 'DABBA_SKIP_NETNS=1' : false;

describe('a full agent disk on a two-host testbed', { skip }, () => {
  let tb: Testbed | undefined;
  let fs: Tmpfs | undefined;

  before(async () => {
    const why = netnsUnavailable();
    if (why !== undefined) throw new Error(why);
    tb = await startTestbed({
      hosts: 2,
      labels: (i) => ({ disk: i === 0 ? 'small' : 'roomy' }),
      agentArgs: ['--min-free', '512Ki', '--min-free-percent', '0'],
    });
    // tb-0's agent again, on a small tmpfs holding what its data dir held (its identity).
    const h0 = tb.hosts[0]!;
    await tb.killAgent(0);
    await rename(h0.dataDir, `${h0.dataDir}.before`);
    await mkdir(h0.dataDir);
    fs = await Tmpfs.mount('8m', h0.dataDir);
    await cp(`${h0.dataDir}.before`, h0.dataDir, { recursive: true });
    await tb.startAgent(0);
    await tb.waitHosts('ready');
  });
  after(async () => {
    await tb?.killAgent(0).catch(() => undefined);
    await fs?.destroy();
    await tb?.stop();
  });

  async function deploy(name: string, job: unknown): Promise<void> {
    const r = await tb!.cli(['deploy', tb!.writeJob(name, JSON.stringify(job))]);
    assert.equal(r.code, 0, `deploy ${name}:\n${r.stdout}\n${r.stderr}\n${tb!.logs(15)}`);
  }

  async function host(id: string): Promise<HostView | undefined> {
    return (await tb!.hostViews()).find((h) => h.id === id);
  }

  test(
    'tasks and heartbeats go on, DiskFull shown, new tasks go to the other host, drops counted, it clears',
    { timeout: 240_000 },
    async () => {
      const t = tb!;
      const tmp = fs!;
      const small = { constraints: [{ attribute: 'disk', equals: 'small' }] };
      await deploy('chatty', {
        name: 'chatty',
        replicas: 1,
        task: {
          command: ['sh', '-c', 'while echo chatty chatty chatty chatty; do sleep 0.01; done; exit 3'],
        },
        placement: small,
      });
      const task = await waitFor('chatty running on tb-0', async () => {
        const x = (await t.job('chatty')).tasks[0];
        return x?.state === 'running' && x.pid !== null && x.host === 'tb-0' ? x : undefined;
      });

      await tmp.fill('filler');
      const full = await waitFor('DiskFull reported', async () => {
        const h = await host('tb-0');
        return h?.conditions?.some((c) => c.type === 'DiskFull') ? h : undefined;
      });
      assert.match(full.conditions?.[0]?.message ?? '', new RegExp(`no space left in ${tmp.dir}`));
      const table = await t.cli(['hosts']);
      assert.equal(table.code, 0, table.stderr);
      assert.match(table.stdout, /tb-0 .*DiskFull/);

      // New tasks go to the other host.
      await deploy('fresh', { name: 'fresh', replicas: 2, task: { command: ['sleep', '1000'] } });
      const fresh = await waitFor('fresh running', async () => {
        const v: JobView = await t.job('fresh');
        return v.tasks.length === 2 && v.tasks.every((x) => x.state === 'running') ? v.tasks : undefined;
      });
      assert.deepEqual(
        fresh.map((x) => x.host),
        ['tb-1', 'tb-1'],
      );

      // Longer than the host timeout (3 s) full: the host stays ready, the chatty task runs on.
      await new Promise((r) => setTimeout(r, 4000));
      assert.equal((await host('tb-0'))?.state, 'ready', 'heartbeats went on');
      assert.ok(t.taskPids(0).includes(task.pid!), 'the chatty task runs on in tb-0');
      assert.equal((await t.job('chatty')).tasks[0]?.state, 'running');

      const during = await waitFor('drops reported', async () => {
        const r = await t.cli(['logs', task.id, '--tail', '3']);
        return r.code === 0 && /dropped since/.test(r.stderr) ? r : undefined;
      });
      assert.match(during.stdout, /chatty chatty/);
      assert.match(
        during.stderr,
        new RegExp(
          `task ${task.id}: \\d+ bytes \\(\\d+ lines\\) of stdout dropped since \\S+: its host's disk was full \\(ENOSPC\\)`,
        ),
      );

      // Space returns: everything clears by itself.
      await tmp.remount('size=64m');
      await waitFor('condition cleared', async () => {
        const h = await host('tb-0');
        return h !== undefined && (h.conditions ?? []).length === 0 ? true : undefined;
      });
      const afterwards = await waitFor('the window of drops closed', async () => {
        const r = await t.cli(['logs', task.id, '--tail', '1']);
        return / dropped from \S+ to \S+: its host's disk was full \(ENOSPC\)/.test(r.stderr) ? r : undefined;
      });
      const [, bytes, lines] = /(\d+) bytes \((\d+) lines\)/.exec(afterwards.stderr) ?? [];
      assert.ok(Number(bytes) > 0 && Number(lines) > 0, afterwards.stderr);
      assert.ok(t.taskPids(0).includes(task.pid!), 'the chatty task never saw a failed write');
      await deploy('later', {
        name: 'later',
        replicas: 1,
        task: { command: ['sleep', '1000'] },
        placement: small,
      });
      await waitFor('later running on tb-0', async () => {
        const x = (await t.job('later')).tasks[0];
        return x?.state === 'running' && x.host === 'tb-0' ? true : undefined;
      });
    },
  );
});

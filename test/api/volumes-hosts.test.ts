/**
 * Volumes across hosts: a real server (SQLite) and two agents in process on the process runtime,
 * each with its own data dir. A task whose host goes down (its agent and its process gone) is
 * replaced by one that waits for that host and starts there again, on its data, when the agent is
 * back; past placement.volumeWait the replacement gets fresh volumes on the other host, said by an
 * event and by `dabba status`, and the returning host sets the old data aside.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { TaskRow } from '../../src/model/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, waitFor } from '../helpers/dev-cluster.ts';

describe('volumes across hosts', { timeout: 240_000 }, () => {
  let t: TestServer;
  const agents = new Map<string, RunningAgent>();

  before(async () => {
    t = await startTestServer('volhosts', { hostTtlSeconds: 3 });
  });
  after(async () => {
    for (const a of agents.values()) await a.close({ stopTasks: true }).catch(() => undefined);
    await t.close();
  });

  async function up(host: string): Promise<void> {
    const dataDir = join(t.dir, host);
    const a = await startAgent({
      client: t.client,
      runtime: new ProcessRuntime({ stateDir: join(dataDir, 'runtime', 'process'), logger: silentLogger }),
      hostId: host,
      labels: {},
      dataDir,
      logger: silentLogger,
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
      volumeGcMs: 500,
      metrics: { intervalMs: 0 },
      hostHistory: false,
    });
    agents.set(host, a);
  }

  /** The host goes away with its tasks (a reboot, a crash): no agent, no processes. */
  async function down(host: string): Promise<void> {
    await agents.get(host)?.close({ stopTasks: true });
    agents.delete(host);
  }

  const runsOn = async (host: string, job: string): Promise<string[]> =>
    (await readFile(join(t.dir, host, 'volumes', job, '0', 'data', 'runs'), 'utf8').catch(() => ''))
      .split('\n')
      .filter(Boolean);

  async function task(job: string): Promise<TaskRow | undefined> {
    const tasks = (await t.client.getJob(job)).tasks.filter((x) => x.desired === 'run');
    return tasks.length === 1 ? tasks[0] : undefined;
  }

  const job = (name: string, volumeWait: string) => ({
    name,
    replicas: 1,
    task: {
      command: ['sh', '-c', 'echo run >> "$DABBA_VOLUME_DATA/runs"; exec sleep 1000'],
      volumes: [{ name: 'data', mount: '/data', size: '16Mi' }],
      restart: { policy: 'always', backoff: '200ms' },
      stopGracePeriod: '1s',
    },
    placement: { volumeWait },
  });

  test('the replacement waits for its host, and runs there again on its data when it is back', async () => {
    await up('ha');
    await up('hb');
    // Each host says how it makes volumes (here: directories, the temp dir is not btrfs).
    const hosts = await cli(['hosts'], { addr: t.server.url });
    assert.equal(hosts.code, 0, hosts.stderr);
    assert.match(hosts.stdout, /^HOST\s+STATE\s+RUNTIME\s+VOLUMES\s/);
    assert.match(hosts.stdout, /^ha\s+ready\s+process\s+dir\s/m);
    const listed = await t.client.hosts();
    assert.equal(listed.find((h) => h.id === 'hb')?.volumes?.kind, 'directory');
    await t.client.putJob('keep', job('keep', '10m'));
    const first = await waitFor('keep running', async () => {
      const x = await task('keep');
      return x?.state === 'running' && x.host !== null ? x : undefined;
    });
    const home = first.host ?? '';
    await waitFor('its first run written', async () =>
      (await runsOn(home, 'keep')).length === 1 ? true : undefined,
    );

    await down(home);
    const waiting = await waitFor(
      'a replacement waiting for its host',
      async () => {
        const x = await task('keep');
        return x && x.id !== first.id && x.host === null ? x : undefined;
      },
      60_000,
    );
    assert.equal(waiting.slot, 0);
    assert.match(waiting.unplaced ?? '', new RegExp(`not ${home}, which holds the task's volumes`));
    const events = await t.client.events({ job: 'keep' });
    assert.ok(
      events.some((e) => e.kind === 'volume.waiting'),
      JSON.stringify(events.map((e) => e.kind)),
    );

    await up(home);
    const back = await waitFor(
      'the replacement running on its host',
      async () => {
        const x = await task('keep');
        return x?.id === waiting.id && x.state === 'running' ? x : undefined;
      },
      60_000,
    );
    assert.equal(back.host, home);
    assert.equal(back.freshVolumes, undefined);
    await waitFor('the second run written', async () =>
      (await runsOn(home, 'keep')).length === 2 ? true : undefined,
    );
    assert.ok(!(await t.client.events({ job: 'keep' })).some((e) => e.kind === 'volume.fresh'));
  });

  test('past volumeWait: fresh volumes on the other host, said by an event and dabba status', async () => {
    await t.client.putJob('move', job('move', '2s'));
    const first = await waitFor('move running', async () => {
      const x = await task('move');
      return x?.state === 'running' && x.host !== null ? x : undefined;
    });
    const home = first.host ?? '';
    const other = home === 'ha' ? 'hb' : 'ha';
    await waitFor('its first run written', async () =>
      (await runsOn(home, 'move')).length === 1 ? true : undefined,
    );

    await down(home);
    const moved = await waitFor(
      'the replacement running on the other host',
      async () => {
        const x = await task('move');
        return x && x.id !== first.id && x.state === 'running' ? x : undefined;
      },
      60_000,
    );
    assert.equal(moved.host, other);
    assert.match(
      moved.freshVolumes ?? '',
      new RegExp(`fresh volumes on ${other}: host ${home} has been down`),
    );
    await waitFor('its run written there', async () =>
      (await runsOn(other, 'move')).length === 1 ? true : undefined,
    );
    const events = await t.client.events({ job: 'move' });
    assert.ok(
      events.some(
        (e) => e.kind === 'volume.fresh' && e.message.includes('slot 0 of move gets fresh volumes'),
      ),
    );

    const status = await cli(['status', 'move'], { addr: t.server.url });
    assert.equal(status.code, 0, status.stderr);
    assert.match(
      status.stdout,
      new RegExp(
        `WARNING: a task runs on fresh volumes:\\n  ${moved.id} \\(slot 0\\): fresh volumes on ${other}`,
      ),
    );

    // The old host comes back: its copy is set aside, not deleted.
    await up(home);
    const aside = await waitFor(
      'the old volumes set aside',
      async () => {
        const names = await readdir(join(t.dir, home, 'volumes', '.abandoned', 'move')).catch(() => []);
        return names.length === 1 ? names : undefined;
      },
      60_000,
    );
    assert.deepEqual(
      (
        await readFile(
          join(t.dir, home, 'volumes', '.abandoned', 'move', aside[0] ?? '', 'data', 'runs'),
          'utf8',
        )
      ).trim(),
      'run',
    );
  });
});

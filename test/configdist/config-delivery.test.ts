/**
 * Configs delivered to tasks with the process runtime (real server, real agent, real processes):
 * a task starts only once its configs are present; a new version reaches every task's file
 * atomically (a reader looping on the file sees only whole versions, never a partial or mixed
 * one), its `.version` sidecar follows, `onChange: signal:HUP` reaches the process; revert brings
 * the old content back the same way; `config status` shows the host on the latest version.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

const PATH = 'app/settings.json';
const MOUNT = '/etc/app/settings.json';

/** A version's content: large enough (about 200 KB) that a torn read would show. */
function content(n: number): Buffer {
  return Buffer.from(JSON.stringify({ n, pad: String(n % 10).repeat(200_000) }) + '\n');
}
const digest = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('configs delivered to process tasks', { timeout: 240_000 }, () => {
  let t: TestServer;
  let agent: RunningAgent;
  let runtime: ProcessRuntime;
  let out: string;
  const agentDir = (): string => join(t.dir, 'agent');

  before(async () => {
    out = await mkdtemp(join(tmpdir(), 'dabba-config-out-'));
    t = await startTestServer('config-delivery');
    runtime = new ProcessRuntime({ stateDir: join(t.dir, 'agent', 'runtime'), logger: silentLogger });
    agent = await startAgent({
      client: t.client,
      runtime,
      hostId: 'h1',
      labels: {},
      dataDir: agentDir(),
      logger: silentLogger,
      capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
    });
  });
  after(async () => {
    try {
      await t.client.stopJob('cfg').catch(() => undefined);
      await agent.close({ stopTasks: true });
      await runtime.close();
    } finally {
      await t.close();
      await rm(out, { recursive: true, force: true });
    }
  });

  const fileOf = (taskId: string): string => join(agentDir(), 'configs', taskId, MOUNT.slice(1));

  test('a task starts only once its configs are present; then every change arrives whole, with SIGHUP', async () => {
    await t.client.putJob('cfg', {
      name: 'cfg',
      replicas: 2,
      task: {
        // Counts SIGHUPs in OUT/<task>.hups; `wait` returns at once on a trapped signal.
        command: [
          'sh',
          '-c',
          `trap 'echo hup >> "$OUT/$DABBA_TASK_ID.hups"' HUP; while :; do sleep 1 & wait $!; done`,
        ],
        env: { OUT: out },
        configs: [{ path: PATH, mount: MOUNT, onChange: 'signal:HUP' }],
      },
    });
    // No config yet: the tasks do not run.
    await new Promise((r) => setTimeout(r, 1500));
    const early = await t.client.jobTasks('cfg');
    assert.ok(
      early.every((x) => x.state !== 'running'),
      `tasks ran without their config: ${JSON.stringify(early.map((x) => x.state))}`,
    );

    await t.client.configs().put(PATH, content(1), 'first');
    const ids = await waitFor(
      'both tasks running',
      async () => {
        const tasks = await t.client.jobTasks('cfg');
        return tasks.length === 2 && tasks.every((x) => x.state === 'running')
          ? tasks.map((x) => x.id)
          : undefined;
      },
      60_000,
    );
    for (const id of ids) {
      assert.equal(digest(await readFile(fileOf(id))), digest(content(1)));
      assert.equal(await readFile(`${fileOf(id)}.version`, 'utf8'), '1\n');
    }

    // Readers loop on both files while 8 versions are stored: every read is one whole version.
    const valid = new Map<string, number>();
    for (let n = 1; n <= 10; n++) valid.set(digest(content(n)), n);
    let stop = false;
    let reads = 0;
    const torn: string[] = [];
    const readers = ids.map(async (id) => {
      while (!stop) {
        const b = await readFile(fileOf(id));
        reads++;
        if (!valid.has(digest(b))) torn.push(`${id}: ${b.length} bytes`);
      }
    });
    try {
      for (let n = 2; n <= 9; n++) {
        await t.client.configs().put(PATH, content(n), `version ${n}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      await waitFor(
        'every task on version 9',
        async () => {
          for (const id of ids) {
            if ((await readFile(`${fileOf(id)}.version`, 'utf8')) !== '9\n') return undefined;
          }
          return true;
        },
        60_000,
      );
    } finally {
      stop = true;
      await Promise.all(readers);
    }
    assert.deepEqual(torn, [], `partial or mixed reads out of ${reads}`);
    assert.ok(reads > 10, `the readers read ${reads} times`);
    for (const id of ids) assert.equal(digest(await readFile(fileOf(id))), digest(content(9)));

    // SIGHUP reached each task's process.
    await waitFor(
      'a SIGHUP in each task',
      async () => {
        for (const id of ids) {
          const hups = await readFile(join(out, `${id}.hups`), 'utf8').catch(() => '');
          if (!hups.includes('hup')) return undefined;
        }
        return true;
      },
      30_000,
    );

    // Revert: version 1's content, as version 10, the same way.
    const r = await t.client.configs().revert(PATH, 1);
    assert.equal(r.config.version, 10);
    await waitFor(
      'every task back on the first content',
      async () => {
        for (const id of ids) {
          if ((await readFile(`${fileOf(id)}.version`, 'utf8')) !== '10\n') return undefined;
          if (digest(await readFile(fileOf(id))) !== digest(content(1))) return undefined;
        }
        return true;
      },
      60_000,
    );

    // The host reported it has the latest version.
    await waitFor(
      'config status: h1 on version 10',
      async () => {
        const s = await t.client.configs().status(PATH);
        return s.hosts.some((h) => h.host === 'h1' && h.version === 10) ? true : undefined;
      },
      30_000,
    );

    // A stopped task's config directory goes with it.
    await t.client.stopJob('cfg');
    let last = '';
    await waitFor(
      'the stopped tasks and their config directories gone',
      async () => {
        const tasks = await t.client.jobTasks('cfg');
        last = JSON.stringify(tasks.map((x) => [x.id, x.state, x.desired]));
        for (const id of ids) {
          if (
            await readFile(fileOf(id)).then(
              () => true,
              () => false,
            )
          )
            return undefined;
        }
        return tasks.every((x) => x.state === 'stopped') ? true : undefined;
      },
      60_000,
    ).catch((e: unknown) => {
      throw new Error(`${String(e)}; tasks: ${last}`);
    });
  });
});

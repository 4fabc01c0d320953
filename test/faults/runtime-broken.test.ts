/**
 * The agent's runtime self-check (issue 14): two agents on one real server (SQLite store, scheduler
 * loop), fake runtimes checked every 200 ms. One runtime breaks: after two failed checks its host
 * reports RuntimeBroken with what is wrong (`dabba hosts` shows it), new tasks go to the other host
 * only, its running task is left alone; mended, the condition clears by itself and the host takes
 * tasks again. The oci runtime's own self-check is checked against this machine's runc/crun, and a
 * binary that is not there.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { startAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { HostView } from '../../src/model/index.ts';
import { FakeRuntime } from '../../src/runtime/fake/index.ts';
import { OciCli } from '../../src/runtime/oci/oci-cli.ts';
import { ociHealthCheck } from '../../src/runtime/oci/health-check.ts';
import { findExecutable } from '../../src/runtime/oci/tool.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

describe(
  'a broken runtime takes its host out of placement until it works again',
  { timeout: 120_000 },
  () => {
    let t: TestServer;
    const runtimes = new Map([
      ['rb-h1', new FakeRuntime()],
      ['rb-h2', new FakeRuntime()],
    ]);
    const agents: (() => Promise<void>)[] = [];

    before(async () => {
      t = await startTestServer('runtime-broken');
      for (const [id, runtime] of runtimes) {
        const a = await startAgent({
          client: t.client,
          runtime,
          hostId: id,
          labels: {},
          dataDir: join(t.dir, id),
          logger: silentLogger,
          capacity: { cpu: 4, memoryBytes: 4 * 2 ** 30, pids: 4096 },
          runtimeCheckMs: 200,
        });
        agents.push(() => a.close({ stopTasks: true }));
      }
    });
    after(async () => {
      for (const stop of agents) await stop().catch(() => undefined);
      await t?.close();
    });

    const fake = (id: string): FakeRuntime => {
      const r = runtimes.get(id);
      if (r === undefined) throw new Error(`no runtime ${id}`);
      return r;
    };
    const host = async (id: string): Promise<HostView | undefined> =>
      (await t.client.hosts()).find((h) => h.id === id);
    const running = async (job: string): Promise<{ host: string | null }[]> =>
      (await t.client.jobTasks(job)).filter((x) => x.desired === 'run' && x.state === 'running');

    test('RuntimeBroken after two failed checks; placement avoids the host; mended, it clears', async () => {
      await t.client.putJob('before', { name: 'before', replicas: 2, task: { command: ['serve'] } });
      const first = await waitFor('2 tasks running', async () => {
        const r = await running('before');
        return r.length === 2 ? r : undefined;
      });
      const onH1 = first.filter((x) => x.host === 'rb-h1').length;

      runtimes.get('rb-h1')!.broken =
        'crun list (state root /run/crun) failed with exit 1: permission denied';
      const broken = await waitFor('rb-h1 reports RuntimeBroken', async () => {
        const c = (await host('rb-h1'))?.conditions?.find((x) => x.type === 'RuntimeBroken');
        return c;
      });
      assert.match(broken.message, /^the fake runtime: crun list .* permission denied$/);
      assert.equal((await host('rb-h2'))?.conditions?.length ?? 0, 0);

      await t.client.putJob('during', { name: 'during', replicas: 3, task: { command: ['serve'] } });
      const placed = await waitFor('3 tasks running', async () => {
        const r = await running('during');
        return r.length === 3 ? r : undefined;
      });
      assert.deepEqual(
        new Set(placed.map((x) => x.host)),
        new Set(['rb-h2']),
        'no new task on the broken host',
      );
      assert.equal(
        (await running('before')).filter((x) => x.host === 'rb-h1').length,
        onH1,
        'its running tasks are left alone',
      );

      fake('rb-h1').broken = undefined;
      await waitFor(
        'the condition clears',
        async () => ((await host('rb-h1'))?.conditions?.length ?? 0) === 0,
      );
      await t.client.putJob('after', { name: 'after', replicas: 6, task: { command: ['serve'] } });
      await waitFor('tasks on the mended host again', async () =>
        (await running('after')).some((x) => x.host === 'rb-h1'),
      );
    });
  },
);

describe('the oci runtime self-check', () => {
  let root = '';
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'dabba-oci-check-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  test("this machine's runc answers; a runtime binary that is not there is named", async () => {
    const runc = await findExecutable('runc');
    const conmon = await findExecutable('conmon');
    assert.ok(
      runc !== undefined && conmon !== undefined,
      'runc and conmon are installed (npm test installs them)',
    );
    assert.equal(await ociHealthCheck({ cli: new OciCli('runc', runc, root), conmon }), undefined);
    const gone = await ociHealthCheck({
      cli: new OciCli('crun', join(root, 'crun'), root),
      conmon: '/usr/bin/conmon',
    });
    assert.match(
      gone ?? '',
      /^crun \(.*\/crun\) is missing or not executable: reinstall it \(apt-get install crun\)$/,
    );
  });
});

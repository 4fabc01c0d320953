/**
 * Volumes end to end, through the CLI on `dabba dev`, with the process runtime and with containers:
 * a task writes into its volume at every start; it is killed and finds what it wrote after its
 * restart; an update of the job (a new task of the same slot) finds it too; so does the task after
 * the agent restarts (its process killed while the agent was away); `dabba stop --purge` removes
 * the volume from the host.
 */
import assert from 'node:assert/strict';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { JobView, TaskRow } from '../../src/model/index.ts';
import { DevCluster, waitFor } from '../helpers/dev-cluster.ts';
import { destroyOciDev, ociForTests, startOciDev } from '../helpers/oci-dev.ts';

const { skip } = await ociForTests();

function jobFile(image: string | undefined, gen: number): string {
  return `name: vol
replicas: 1
task:
${image === undefined ? '' : `  image: ${image}\n`}  command: ["sh", "-c", "echo run-$GEN >> \\"$DABBA_VOLUME_DATA/runs\\"; echo \\"$DABBA_VOLUME_DATA\\" > \\"$DABBA_VOLUME_DATA/where\\"; exec sleep 1000"]
  env: { GEN: "${gen}" }
  resources: { cpu: 0.1, memory: 32Mi, pids: 16 }
  volumes: [{ name: data, mount: /data, size: 64Mi }]
  restart: { policy: always, backoff: 500ms }
  stopGracePeriod: 1s
update: { minHealthy: 0s, deadline: 3m }
`;
}

async function scenario(c: DevCluster, driver: 'process' | 'oci', image: string | undefined): Promise<void> {
  const file = join(c.dataDir, 'vol.yaml');
  const dir = join(c.dataDir, 'agent', 'volumes', 'vol', '0', 'data');
  const runs = async (): Promise<string[]> =>
    (await readFile(join(dir, 'runs'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const tasks = async (): Promise<TaskRow[]> => {
    const r = await c.cli(['status', 'vol', '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as JobView).tasks.filter((t) => t.desired === 'run');
  };
  const running = (pred: (t: TaskRow) => boolean = () => true) =>
    waitFor(
      'the task running',
      async () => {
        const [t, ...rest] = await tasks();
        return t && rest.length === 0 && t.state === 'running' && t.pid !== null && pred(t) ? t : undefined;
      },
      90_000,
    );

  await writeFile(file, jobFile(image, 1));
  const deployed = await c.cli(['deploy', file]);
  assert.equal(deployed.code, 0, deployed.stdout + deployed.stderr);
  const first = await running();
  assert.equal(first.slot, 0);
  await waitFor('the first run written', async () => ((await runs()).length === 1 ? true : undefined));
  // The task finds the volume in DABBA_VOLUME_DATA: a container at its mount, a process at the host path.
  assert.equal((await readFile(join(dir, 'where'), 'utf8')).trim(), driver === 'oci' ? '/data' : dir);

  // Killed: restarted in place, it finds what it wrote.
  process.kill(first.pid ?? 0, 'SIGKILL');
  await running((t) => t.id === first.id && t.restarts >= 1 && t.pid !== first.pid);
  await waitFor('the second run written', async () => ((await runs()).length === 2 ? true : undefined));
  assert.deepEqual(await runs(), ['run-1', 'run-1']);

  // An update: a new task of the same slot, on the same host, finds the volume.
  await writeFile(file, jobFile(image, 2));
  const updated = await c.cli(['deploy', file]);
  assert.equal(updated.code, 0, updated.stdout + updated.stderr);
  const second = await running((t) => t.id !== first.id && t.version === 2);
  assert.equal(second.slot, 0);
  assert.equal(second.host, first.host);
  await waitFor('the update run written', async () => ((await runs()).length === 3 ? true : undefined));
  assert.deepEqual(await runs(), ['run-1', 'run-1', 'run-2']);

  // The agent restarts; meanwhile the task's process died. The task starts again where it was.
  await c.stop();
  process.kill(second.pid ?? 0, 'SIGKILL');
  await c.boot(driver);
  const third = await running((t) => t.id === second.id && t.pid !== second.pid);
  assert.equal(third.host, second.host);
  await waitFor('the run after the agent restart written', async () =>
    (await runs()).length === 4 ? true : undefined,
  );
  assert.deepEqual(await runs(), ['run-1', 'run-1', 'run-2', 'run-2']);

  // Purged: the agent deletes the volume (it looks every 30 s).
  const purged = await c.cli(['stop', 'vol', '--purge']);
  assert.equal(purged.code, 0, purged.stdout + purged.stderr);
  await waitFor(
    'the volume deleted',
    () =>
      stat(join(c.dataDir, 'agent', 'volumes', 'vol')).then(
        () => undefined,
        () => true,
      ),
    120_000,
    500,
  );
}

describe('volumes with the process runtime', { timeout: 300_000 }, () => {
  let c: DevCluster;
  before(async () => {
    c = await DevCluster.start({ driver: 'process' });
  });
  after(async () => {
    await c.destroy();
  });

  test('kept across a kill, an update and an agent restart; removed by purge', async () => {
    await scenario(c, 'process', undefined);
  });
});

describe('volumes with containers', { skip, timeout: 300_000 }, () => {
  let c: DevCluster;
  let network = '';
  before(async () => {
    ({ c, network } = await startOciDev());
  });
  after(async () => {
    await destroyOciDev(c, network);
  });

  test('bound read-write at the mount; kept across a kill, an update and an agent restart; removed by purge', async () => {
    await scenario(c, 'oci', 'busybox');
  });
});

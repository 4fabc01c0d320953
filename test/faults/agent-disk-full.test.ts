/**
 * An agent whose data dir fills up (a real 4 MB tmpfs), beside a second agent on a roomy disk, both
 * on the process runtime against a real server: the chatty task on the full host runs on, the agent
 * keeps heartbeating (its host never goes down), the host reports DiskFull (API and `dabba hosts`),
 * new tasks go to the other host, and everything clears by itself once the tmpfs is enlarged.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import type { HostView } from '../../src/model/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { cli, isAlive, waitFor } from '../helpers/dev-cluster.ts';
import { Tmpfs } from '../helpers/tmpfs.ts';

let t: TestServer;
let fs: Tmpfs;
const agents: { agent: RunningAgent; runtime: ProcessRuntime }[] = [];

before(async () => {
  t = await startTestServer('agent-full', { hostTtlSeconds: 3 });
  fs = await Tmpfs.mount('4m');
});
after(async () => {
  for (const a of agents) {
    await a.agent.close({ stopTasks: true }).catch(() => undefined);
    await a.runtime.close().catch(() => undefined);
  }
  await fs.destroy();
  await t.close();
});

async function agent(hostId: string, dataDir: string, labels: Record<string, string>): Promise<void> {
  const runtime = new ProcessRuntime({ stateDir: join(dataDir, 'runtime', 'process'), logger: silentLogger });
  const a = await startAgent({
    client: t.client,
    runtime,
    hostId,
    labels,
    dataDir,
    logger: silentLogger,
    capacity: { cpu: 4, memoryBytes: 8 * 2 ** 30, pids: 4096 },
    watermark: { minFreeBytes: 512 * 1024, minFreePercent: 0 },
    diskCheckMs: 300,
  });
  agents.push({ agent: a, runtime });
}

async function host(id: string): Promise<HostView | undefined> {
  return (await t.client.hosts()).find((h) => h.id === id);
}

test(
  'a full agent disk: tasks and heartbeats go on, the host says DiskFull, new tasks go elsewhere, it clears',
  { timeout: 120_000 },
  async () => {
    await agent('small', fs.dir, { disk: 'small' });
    await agent('roomy', join(t.dir, 'roomy'), { disk: 'roomy' });
    await t.client.putJob('chatty', {
      name: 'chatty',
      replicas: 1,
      // Ends at its first failed write: it runs on because its writes (to the shipper's pipe) never fail.
      task: { command: ['sh', '-c', 'while echo chatty chatty chatty chatty; do sleep 0.01; done; exit 3'] },
      placement: { constraints: [{ attribute: 'disk', equals: 'small' }] },
    });
    const task = await waitFor('chatty running', async () => {
      const x = (await t.client.jobTasks('chatty'))[0];
      return x?.state === 'running' && x.pid !== undefined ? x : undefined;
    });
    assert.equal(task.host, 'small');

    await fs.fill('filler');
    const full = await waitFor('DiskFull reported', async () => {
      const h = await host('small');
      return h?.conditions?.some((c) => c.type === 'DiskFull') ? h : undefined;
    });
    assert.match(full.conditions?.[0]?.message ?? '', new RegExp(`no space left in ${fs.dir}`));
    const table = await cli(['hosts'], { addr: t.server.url });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /CONDITIONS/);
    assert.match(table.stdout, /small .*DiskFull/);

    // New tasks go to the other host.
    await t.client.putJob('fresh', { name: 'fresh', replicas: 2, task: { command: ['sleep', '1000'] } });
    const fresh = await waitFor('fresh running', async () => {
      const xs = await t.client.jobTasks('fresh');
      return xs.length === 2 && xs.every((x) => x.state === 'running') ? xs : undefined;
    });
    assert.deepEqual(
      fresh.map((x) => x.host),
      ['roomy', 'roomy'],
    );

    // Longer than the host TTL (3 s) on a full disk: the host stays up, the chatty task runs on.
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal((await host('small'))?.state, 'ready', 'heartbeats went on');
    assert.ok(isAlive(task.pid!), 'the chatty task runs on');
    assert.equal((await t.client.jobTasks('chatty'))[0]?.state, 'running');

    // `dabba logs` works and says how much output was dropped, and since when (the log shipper
    // counts what it could not write).
    const during = await waitFor('drops reported', async () => {
      const r = await cli(['logs', task.id, '--tail', '3'], { addr: t.server.url });
      return /dropped since/.test(r.stderr) ? r : undefined;
    });
    assert.equal(during.code, 0, during.stderr);
    assert.match(during.stdout, /chatty chatty/);
    assert.match(
      during.stderr,
      new RegExp(
        `task ${task.id}: \\d+ bytes \\(\\d+ lines\\) of stdout dropped since \\S+: its host's disk was full \\(ENOSPC\\)`,
      ),
    );

    // Space returns: the condition clears by itself and the host takes tasks again.
    await fs.remount('size=64m');
    await waitFor('condition cleared', async () => {
      const h = await host('small');
      return h !== undefined && (h.conditions ?? []).length === 0 ? true : undefined;
    });
    const afterwards = await waitFor('the window closed', async () => {
      const r = await cli(['logs', task.id, '--tail', '1'], { addr: t.server.url });
      return / dropped from \S+ to \S+: its host's disk was full \(ENOSPC\)/.test(r.stderr) ? r : undefined;
    });
    assert.equal(afterwards.code, 0, afterwards.stderr);
    const [, bytes, lines] = /(\d+) bytes \((\d+) lines\)/.exec(afterwards.stderr) ?? [];
    assert.ok(Number(bytes) > 0 && Number(lines) > 0, afterwards.stderr);
    assert.ok(isAlive(task.pid!), 'the chatty task never saw a failed write');
    await t.client.putJob('later', {
      name: 'later',
      replicas: 1,
      task: { command: ['sleep', '1000'] },
      placement: { constraints: [{ attribute: 'disk', equals: 'small' }] },
    });
    await waitFor('later running on small', async () => {
      const x = (await t.client.jobTasks('later'))[0];
      return x?.state === 'running' && x.host === 'small' ? true : undefined;
    });
  },
);

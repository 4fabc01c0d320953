/**
 * `GET /v1/jobs` with more jobs than it reads one by one: the summaries built from three range
 * reads (tasks, statuses, deployments of every job) are the ones the per-job reads give, on a real
 * server with a real agent (process runtime) running the tasks, across two namespaces.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startAgent, type RunningAgent } from '../../src/agent/index.ts';
import { DabbaClient } from '../../src/client/index.ts';
import { silentLogger } from '../../src/lib/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { jobSummaries } from '../../src/server/state/views.ts';
import { startTestServer, type TestServer } from '../helpers/api-server.ts';
import { waitFor } from '../helpers/dev-cluster.ts';

let t: TestServer;
let runtime: ProcessRuntime;
let agent: RunningAgent;

before(async () => {
  t = await startTestServer('job-list');
  runtime = new ProcessRuntime({ stateDir: join(t.dir, 'agent', 'runtime'), logger: silentLogger });
  agent = await startAgent({
    client: t.client,
    runtime,
    hostId: 'h1',
    labels: {},
    dataDir: join(t.dir, 'agent'),
    logger: silentLogger,
    capacity: { cpu: 64, memoryBytes: 64 * 2 ** 30, pids: 65536 },
    hostHistory: false,
    metrics: { intervalMs: 0 },
  });
});
after(async () => {
  await agent.close({ stopTasks: true }).catch(() => undefined);
  await runtime.close().catch(() => undefined);
  await t.close();
});

test(
  'the listing of many jobs matches the per-job reads, namespaces kept apart',
  { timeout: 120_000 },
  async () => {
    await t.client.createNamespace('a');
    const inA = new DabbaClient({ addr: t.server.url, token: t.adminToken, namespace: 'a' });
    const jobs = Array.from({ length: 20 }, (_, i) => ({ name: `j${i}`, replicas: 1 + (i % 3) }));
    for (const j of jobs) {
      const client = Number(j.name.slice(1)) % 4 === 0 ? inA : t.client;
      await client.putJob(j.name, {
        name: j.name,
        replicas: j.replicas,
        task: { command: ['sleep', '1000'], resources: { cpu: 0.01, memory: '8Mi' } },
      });
    }
    const all = await waitFor(
      'every task running',
      async () => {
        const list = await jobSummaries(t.store, '*');
        return list.length === 20 && list.every((s) => s.running === s.replicas) ? list : undefined;
      },
      90_000,
    );
    // The same summaries, read job by job.
    assert.deepEqual(all, await jobSummaries(t.store, '*', Number.MAX_SAFE_INTEGER));
    assert.ok(all.every((s) => s.deployment !== null));
    for (const ns of ['default', 'a'])
      assert.deepEqual(
        await jobSummaries(t.store, ns),
        await jobSummaries(t.store, ns, Number.MAX_SAFE_INTEGER),
      );
    // And through the API, by namespace.
    assert.equal((await inA.listJobs()).length, 5);
    assert.equal((await t.client.listJobs()).length, 15);
  },
);

/**
 * TaskControl's cost on a rollout: TASKS tasks on HOSTS in-process agents (fake runtime) behind the
 * real server, store (SQLite, temp dir) and scheduler, rolled from v1 to v2 with a controller that
 * answers in 10 ms (acknowledging every pending operation) and, on a fresh cluster, without one.
 * Rollout time: PUT of v2 -> deployment of v2 succeeded with every task of v2 running. Printed:
 * both times, the ratio (goal <= 1.2) and how many requests the controller got.
 *
 *   node bench/taskcontrol.ts [--tasks 1000] [--hosts 20] [--batch 100] [--delay-ms 10]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent, type RunningAgent } from '../src/agent/index.ts';
import { DabbaClient } from '../src/client/index.ts';
import { silentLogger, sleep } from '../src/lib/index.ts';
import { FakeRuntime } from '../src/runtime/fake/index.ts';
import { serveTaskControl } from '../src/sdk/index.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    hosts: { type: 'string', default: '20' },
    batch: { type: 'string', default: '100' },
    'delay-ms': { type: 'string', default: '10' },
  },
});
const TASKS = Number(values.tasks);
const HOSTS = Number(values.hosts);
const BATCH = Number(values.batch);
const DELAY = Number(values['delay-ms']);
const TOKEN = 'bench-taskcontrol-admin-token-0123456789abcdef';

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** One rollout on a fresh cluster; returns its time in ms and the controller's request count. */
async function run(withController: boolean): Promise<{ ms: number; requests: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-tc-'));
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    hostTtlSeconds: 600,
    auth: { adminToken: TOKEN },
    store,
    storeName: 'sqlite',
  });
  const client = new DabbaClient({ addr: server.url, token: TOKEN });
  const agents: RunningAgent[] = [];
  let requests = 0;
  const controller = withController
    ? await serveTaskControl(async (r) => {
        requests++;
        await sleep(DELAY);
        return r.pending.map((p) => p.id);
      })
    : undefined;
  try {
    for (let i = 0; i < HOSTS; i++) {
      agents.push(
        await startAgent({
          client,
          runtime: new FakeRuntime(),
          hostId: `bench-h${i}`,
          labels: { rack: `r${i % 4}` },
          dataDir: join(dir, `h${i}`),
          logger: silentLogger,
          capacity: { cpu: 1000, memoryBytes: 2 ** 40, pids: 1 << 20 },
        }),
      );
    }
    const file = (v: string): Record<string, unknown> => ({
      name: 'roll',
      replicas: TASKS,
      task: { command: ['sleep', '100000'], env: { V: v }, resources: { cpu: 0.01, memory: '1Mi', pids: 1 } },
      update: { maxUnavailable: BATCH, maxSurge: BATCH, minHealthy: '0s', deadline: '30m' },
      ...(controller === undefined ? {} : { taskControl: { url: controller.url, timeout: '5s' } }),
    });
    const allRunning = async (version: number): Promise<boolean> => {
      const view = await client.getJob('roll');
      const live = view.tasks.filter((t) => t.desired === 'run');
      return live.length === TASKS && live.every((t) => t.version === version && t.state === 'running');
    };
    await client.putJob('roll', file('1'));
    await until('v1 running', () => allRunning(1), 600_000);
    const start = performance.now();
    await client.putJob('roll', file('2'));
    await until(
      'v2 rolled out',
      async () => {
        const view = await client.getJob('roll');
        return (
          view.deployment?.version === 2 && view.deployment.state === 'succeeded' && (await allRunning(2))
        );
      },
      1_800_000,
    );
    return { ms: performance.now() - start, requests };
  } finally {
    for (const a of agents) await a.close({ stopTasks: true }).catch(() => undefined);
    await controller?.close();
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

const none = await run(false);
const tc = await run(true);
const ratio = tc.ms / none.ms;
table(
  `TaskControl rollout: ${TASKS} tasks on ${HOSTS} hosts, maxUnavailable/maxSurge ${BATCH}, controller answering in ${DELAY} ms`,
  ['run', 'rollout (s)', 'controller requests'],
  [
    ['no controller (baseline)', (none.ms / 1000).toFixed(2), '-'],
    [`controller (${DELAY} ms)`, (tc.ms / 1000).toFixed(2), String(tc.requests)],
  ],
);
console.log(`ratio ${ratio.toFixed(2)}x (goal <= 1.2x): ${ratio <= 1.2 ? 'met' : 'missed'}`);

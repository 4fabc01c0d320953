/**
 * Recall time of loaned hosts (elastic compute, docs/elastic.md): HOSTS in-process agents (fake
 * runtime) behind the real server, store (SQLite, temp dir), scheduler and pools broker. Every host
 * starts empty in the online pool, so all are loaned to the batch pool; a batch job of the batch
 * pool fills each with one task. Then a service of the online pool asks for HOSTS replicas of a whole
 * host each: every loan is recalled, its batch task preempted, the host returned and the service
 * placed there. Printed: per host, recall -> back in online (from the broker's own events), p50 and
 * max against the recall bound (`recallWithin`, 60 s), the time until the service runs everywhere,
 * and, as a baseline on the same cluster afterwards, stopping the same number of batch tasks
 * directly (`dabba stop`) -> gone.
 *
 *   node bench/recall.ts [--hosts 100] [--recall-within 60s]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startAgent, type RunningAgent } from '../src/agent/index.ts';
import { DabbaClient } from '../src/client/index.ts';
import { parseDuration, silentLogger, sleep } from '../src/lib/index.ts';
import { FakeRuntime } from '../src/runtime/fake/index.ts';
import { startServer } from '../src/server/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { pct, table } from './report.ts';

const { values } = parseArgs({
  options: { hosts: { type: 'string', default: '100' }, 'recall-within': { type: 'string', default: '60s' } },
});
const HOSTS = Number(values.hosts);
const parsed = parseDuration(values['recall-within']);
if (!parsed.ok) throw new Error(`--recall-within: not a duration: ${values['recall-within']}`);
const RECALL_WITHIN = parsed.ms;
const TOKEN = 'bench-recall-admin-token-0123456789abcdef01';

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-recall-'));
const store = await SqliteStore.open(join(dir, 'store.db'));
const server = await startServer({
  host: '127.0.0.1',
  port: 0,
  logger: silentLogger,
  hostTtlSeconds: 600,
  recallWithinMs: RECALL_WITHIN,
  auth: { adminToken: TOKEN },
  store,
  storeName: 'sqlite',
});
const client = new DabbaClient({ addr: server.url, token: TOKEN });
const agents: RunningAgent[] = [];
try {
  for (let i = 0; i < HOSTS; i++) {
    agents.push(
      await startAgent({
        client,
        runtime: new FakeRuntime(),
        hostId: `rc-h${String(i).padStart(3, '0')}`,
        labels: {},
        dataDir: join(dir, `h${i}`),
        logger: silentLogger,
        capacity: { cpu: 1, memoryBytes: 2 ** 30, pids: 1024 },
        hostHistory: false,
        metrics: { intervalMs: 0 },
      }),
    );
  }
  const loans = async (): Promise<number> => (await client.pools()).loans.length;
  const task = { command: ['work'], resources: { cpu: 1, memory: '16Mi', pids: 1 }, stopGracePeriod: '5s' };
  await client.putJob('crunch', {
    name: 'crunch',
    type: 'batch',
    pool: 'batch',
    completions: 10_000,
    parallelism: HOSTS,
    task,
  });
  const runningOf = async (job: string): Promise<number> =>
    (await client.jobTasks(job)).filter((t) => t.desired === 'run' && t.state === 'running').length;
  await until(`${HOSTS} hosts loaned`, async () => (await loans()) === HOSTS, 600_000);
  await until('batch on every loaned host', async () => (await runningOf('crunch')) === HOSTS, 600_000);

  const start = Date.now();
  await client.putJob('web', {
    name: 'web',
    replicas: HOSTS,
    pool: 'online',
    task: { command: ['serve'], resources: { cpu: 1, memory: '16Mi', pids: 1 } },
    update: { minHealthy: '0s', deadline: '30m' },
  });
  await until('every loan back', async () => (await loans()) === 0, 600_000);
  const back = Date.now() - start;
  await until('web everywhere', async () => (await runningOf('web')) === HOSTS, 600_000);
  const webAll = Date.now() - start;
  const events = await client.events({ limit: 5000 });
  const recalledAt = new Map<string, number>();
  for (const e of events)
    if (e.kind === 'pool.recalled' && e.host !== undefined) recalledAt.set(e.host, e.at);
  const per: number[] = [];
  for (const e of events) {
    if (e.kind !== 'pool.returned' || e.host === undefined) continue;
    const at = recalledAt.get(e.host);
    if (at !== undefined) per.push(e.at - at);
  }
  per.sort((a, b) => a - b);

  // Baseline: stopping the batch job's tasks directly, on the same cluster.
  await client.stopJob('web');
  await until('web gone', async () => (await client.jobTasks('web')).length === 0, 600_000);
  await until('crunch back on every host', async () => (await runningOf('crunch')) === HOSTS, 600_000);
  const stopStart = Date.now();
  await client.stopJob('crunch');
  await until('crunch gone', async () => (await client.jobTasks('crunch')).length === 0, 600_000);
  const stopMs = Date.now() - stopStart;

  const max = per.at(-1) ?? NaN;
  table(
    `Recall of ${HOSTS} loaned hosts (one batch task each, fake runtime), recallWithin ${values['recall-within']}`,
    ['measure', 'ms'],
    [
      ['per host: recall -> back in online, p50', pct(per, 50)],
      ['per host: recall -> back in online, max', max],
      ['service deploy -> every loan back', back],
      ['service deploy -> service running on all hosts', webAll],
      [`baseline: dabba stop of ${HOSTS} batch tasks -> gone`, stopMs],
    ],
  );
  console.log(
    `hosts back: ${per.length}/${HOSTS}; slowest recall ${(max / 1000).toFixed(2)} s against a bound of ${(
      RECALL_WITHIN / 1000
    ).toFixed(0)} s: ${max <= RECALL_WITHIN && per.length === HOSTS ? 'met' : 'missed'}; ` +
      `all back ${(back / stopMs).toFixed(2)}x the baseline stop`,
  );
} finally {
  for (const a of agents) await a.close({ stopTasks: true }).catch(() => undefined);
  await server.close();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}

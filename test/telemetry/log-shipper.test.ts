/**
 * The agent's task-log shipper with the real process runtime: while the server is unreachable its
 * queue stays within its bound (new lines dropped and counted) and the task runs on; with a real
 * server every line of the run arrives in the `tasklogs` table, JSON lines as columns.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { DabbaClient } from '../../src/client/index.ts';
import { shortId, silentLogger, sleep } from '../../src/lib/index.ts';
import { keys, type TaskSpec } from '../../src/model/index.ts';
import { ProcessRuntime } from '../../src/runtime/process/index.ts';
import { startTestServer } from '../helpers/api-server.ts';
import { LogShipper } from '../../src/agent/log-shipper.ts';

const spec = (command: string[]): TaskSpec => ({
  command,
  env: {},
  resources: { cpu: 0.5, memoryBytes: 256 * 1024 * 1024, pids: 100 },
  ports: [],
  health: {},
  restart: { policy: 'never', initialBackoffMs: 100, maxBackoffMs: 1000 },
  stopGracePeriodMs: 1000,
});

/** 3,000 lines (every third one JSON), then it sleeps. */
const PRINTER = [
  'sh',
  '-c',
  'i=0; while [ $i -lt 3000 ]; do if [ $((i % 3)) -eq 0 ]; then echo "{\\"n\\":$i,\\"level\\":\\"info\\"}"; else echo "line $i"; fi; i=$((i+1)); done; exec sleep 60',
];

async function runtimeFor(t: TestContext): Promise<ProcessRuntime> {
  const stateDir = await mkdtemp(join(tmpdir(), 'dabba-shipper-'));
  const rt = new ProcessRuntime({ stateDir, logger: silentLogger });
  t.after(async () => {
    const { running, exited } = await rt.recover();
    for (const { taskId } of [...running, ...exited]) {
      await rt.stop(taskId, 0);
      await rt.remove(taskId);
    }
    await rt.close();
    await rm(stateDir, { recursive: true, force: true });
  });
  return rt;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function until<T>(
  what: string,
  f: () => Promise<T | undefined> | T | undefined,
  ms = 60_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('task log shipper', () => {
  test('with the server away, the queue stays bounded and the task runs on', async (t) => {
    const rt = await runtimeFor(t);
    const client = new DabbaClient({ addr: `http://127.0.0.1:${await closedPort()}`, timeoutMs: 1000 });
    const shipper = new LogShipper({
      client,
      runtime: rt,
      hostId: 'h1',
      logger: silentLogger,
      maxLines: 100,
      intervalMs: 50,
    });
    const ac = new AbortController();
    const running = shipper.run(ac.signal);
    t.after(() => {
      ac.abort();
      return running;
    });
    const taskId = `ship-${shortId(8)}`;
    const h = await rt.start({ taskId, job: 'ship', version: 1, spec: spec(PRINTER), env: {} });
    shipper.follow({ taskId, job: 'ship', startedAt: h.startedAt, adopted: false });
    const p = await until('every line to be queued or dropped', () => {
      const q = shipper.pending;
      return q.lines + q.dropped >= 3000 ? q : undefined;
    });
    assert.deepEqual([p.lines, p.dropped], [100, 2900]);
    process.kill(h.pid, 0); // still running: shipping never blocks it
    ac.abort();
    await running;
  });

  test('every line of a run reaches the tasklogs table of a real server', async (t) => {
    const dataDir = await mkdtemp(join(tmpdir(), 'dabba-shipper-server-'));
    t.after(() => rm(dataDir, { recursive: true, force: true }));
    const srv = await startTestServer('shipper', { dataDir });
    t.after(() => srv.close());
    const rt = await runtimeFor(t);
    const taskId = `ship-${shortId(8)}`;
    // What the scheduler writes when it places a task: the server keeps only lines of tasks
    // assigned to the host that sends them.
    await srv.store.put(
      keys.assignment('h1', taskId),
      JSON.stringify({
        id: taskId,
        job: 'team:ship',
        version: 1,
        host: 'h1',
        desired: 'run',
        spec: spec(PRINTER),
        createdAt: 1,
      }),
    );
    const shipper = new LogShipper({
      client: srv.client,
      runtime: rt,
      hostId: 'h1',
      logger: silentLogger,
      intervalMs: 100,
    });
    const ac = new AbortController();
    const running = shipper.run(ac.signal);
    t.after(() => {
      ac.abort();
      return running;
    });
    const h = await rt.start({ taskId, job: 'team:ship', version: 1, spec: spec(PRINTER), env: {} });
    shipper.follow({ taskId, job: 'team:ship', startedAt: h.startedAt, adopted: false });
    const team = srv.client.with({ namespace: 'team' });
    const r = await until('3,000 rows', async () => {
      const q = await team
        .queryTable('tasklogs', { where: [`task=${taskId}`], by: ['level'], agg: 'count,max(n)' })
        .catch(() => undefined);
      return q && q.rows.reduce((s, x) => s + Number(x['count']), 0) >= 3000 ? q : undefined;
    });
    assert.deepEqual(r.rows, [
      { level: null, count: 2000, 'max(n)': null },
      { level: 'info', count: 1000, 'max(n)': 2997 },
    ]);
    const plain = await team.queryTable('tasklogs', { where: ['message=line 2999'] });
    assert.deepEqual(
      plain.rows.map((x) => [x['job'], x['host'], x['stream'], x['namespace']]),
      [['ship', 'h1', 'stdout', 'team']],
    );
    // Another namespace sees none of them.
    const other = await srv.client.with({ namespace: 'default' }).queryTable('tasklogs', { agg: 'count' });
    assert.deepEqual(other.rows, [{ count: 0 }]);
    assert.equal(shipper.pending.dropped, 0);
    ac.abort();
    await running;
  });
});

/**
 * The status reporter against a real HTTP server standing in for the API: latest status wins per
 * task, different tasks go out concurrently (bounded), one task's statuses never overtake each
 * other, and failed reports are retried.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { DabbaClient } from '../client/index.ts';
import { silentLogger, sleep } from '../lib/index.ts';
import type { TaskStatus } from '../model/index.ts';
import { StatusReporter } from './status-reporter.ts';

interface Seen {
  id: string;
  state: string;
  message: string | undefined;
}

async function fakeApi(
  t: TestContext,
  handle: (s: TaskStatus, res: ServerResponse) => Promise<void>,
): Promise<{ url: string; seen: Seen[]; peak: () => number }> {
  const seen: Seen[] = [];
  let now = 0;
  let peak = 0;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const s = JSON.parse(body) as TaskStatus;
      now++;
      peak = Math.max(peak, now);
      void handle(s, res).finally(() => {
        now--;
        seen.push({ id: s.id, state: s.state, message: s.message });
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  const { port } = server.address() as AddressInfo;
  return { url: `127.0.0.1:${port}`, seen, peak: () => peak };
}

function ok(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
}

function status(id: string, state: TaskStatus['state'], message?: string): TaskStatus {
  return {
    id,
    job: 'j',
    host: 'h',
    state,
    healthy: false,
    ready: false,
    restarts: 0,
    updatedAt: Date.now(),
    ...(message !== undefined ? { message } : {}),
  };
}

function reporter(t: TestContext, url: string): StatusReporter {
  const r = new StatusReporter(new DabbaClient({ addr: url }), silentLogger);
  const ac = new AbortController();
  const running = r.run(ac.signal);
  t.after(async () => {
    ac.abort();
    await running;
  });
  return r;
}

test('statuses of many tasks go out concurrently, at most 8 at once; latest wins per task', async (t) => {
  const api = await fakeApi(t, async (_s, res) => {
    await sleep(30);
    ok(res);
  });
  const r = reporter(t, api.url);
  for (let i = 0; i < 20; i++) {
    r.report(status(`t${i}`, 'starting'));
    r.report(status(`t${i}`, 'running'));
  }
  await r.flushed();
  assert.equal(api.seen.length, 20, 'one report per task: the newest');
  assert.ok(
    api.seen.every((s) => s.state === 'running'),
    JSON.stringify(api.seen),
  );
  // Concurrency is seen by the API itself (requests in flight at once), not by timing, which a
  // loaded machine would make flaky.
  assert.ok(api.peak() > 1 && api.peak() <= 8, `peak concurrency ${api.peak()}`);
});

test("one task's statuses are sent in order, never two at once", async (t) => {
  let inFlightForA = 0;
  let overlap = false;
  const api = await fakeApi(t, async (s, res) => {
    if (s.id === 'a') {
      inFlightForA++;
      if (inFlightForA > 1) overlap = true;
    }
    await sleep(20);
    if (s.id === 'a') inFlightForA--;
    ok(res);
  });
  const r = reporter(t, api.url);
  r.report(status('a', 'starting', '1'));
  await sleep(5); // the first is in flight now
  r.report(status('a', 'running', '2'));
  r.report(status('b', 'running'));
  await r.flushed();
  assert.equal(overlap, false);
  assert.deepEqual(
    api.seen.filter((s) => s.id === 'a').map((s) => s.message),
    ['1', '2'],
  );
});

test('a failed report is retried; other tasks are not held up by it', async (t) => {
  let failuresLeft = 2;
  const api = await fakeApi(t, async (s, res) => {
    await Promise.resolve();
    if (s.id === 'flaky' && failuresLeft > 0) {
      failuresLeft--;
      res
        .writeHead(503, { 'content-type': 'application/json' })
        .end(JSON.stringify({ code: 'DABBA_E_UNAVAILABLE', message: 'not now' }));
      return;
    }
    ok(res);
  });
  const r = reporter(t, api.url);
  const t0 = Date.now();
  let steadyAt = 0;
  let flakyRetriedAt = 0;
  const seen = api.seen;
  const watch = setInterval(() => {
    if (steadyAt === 0 && seen.some((s) => s.id === 'steady')) steadyAt = Date.now() - t0;
    if (flakyRetriedAt === 0 && seen.filter((s) => s.id === 'flaky').length >= 2)
      flakyRetriedAt = Date.now() - t0;
  }, 2);
  t.after(() => clearInterval(watch));
  r.report(status('flaky', 'running'));
  r.report(status('steady', 'running'));
  await r.flushed();
  clearInterval(watch);
  const ids = api.seen.map((s) => s.id);
  assert.equal(ids.filter((i) => i === 'flaky').length, 3, ids.join(','));
  // flaky's first retry waits out its backoff (400 ms); steady goes out meanwhile, not after it.
  assert.ok(
    steadyAt > 0 && flakyRetriedAt > 0,
    `steady at ${steadyAt} ms, flaky retried at ${flakyRetriedAt} ms`,
  );
  assert.ok(
    steadyAt + 200 < flakyRetriedAt,
    `steady went out at ${steadyAt} ms, flaky's retry at ${flakyRetriedAt} ms: steady waited for flaky's backoff`,
  );
});

import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { DabbaError } from '../../errors/index.ts';
import { silentLogger, systemClock } from '../../lib/index.ts';
import { Shipper } from './shipper.ts';
import { Spool, type SpoolOptions } from './spool.ts';
import type { IngestAck, WireBatch, WireSeries } from './wire.ts';

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-spool-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

const series = (v: number): WireSeries[] => [
  { name: 'x_total', labels: { k: 'v' }, kind: 'counter', samples: [[v, v]] },
];
const opts = (dir: string, extra: Partial<SpoolOptions> = {}): SpoolOptions => ({
  dir,
  host: 'h1',
  logger: silentLogger,
  clock: systemClock,
  ...extra,
});

test('batches come out oldest first, each once acknowledged, and numbers survive a restart', async (t) => {
  const dir = await tempDir(t);
  const s = await Spool.open(opts(dir));
  const first = s.nextSeq;
  assert.ok(first >= Date.now() - 60_000, 'a fresh spool starts at the clock');
  const seqs = [];
  for (let i = 0; i < 5; i++) seqs.push(await s.append(series(i)));
  assert.deepEqual(seqs, [first, first + 1, first + 2, first + 3, first + 4]);
  assert.equal((await s.oldest())?.seq, first);
  await s.ack(first);
  await s.ack(first + 1);
  assert.equal(s.stats().batches, 3);

  // A restart finds the three left, in order, then goes on numbering after them.
  const again = await Spool.open(opts(dir));
  assert.equal(again.id, s.id);
  assert.equal(again.stats().batches, 3);
  const b = await again.oldest();
  assert.equal(b?.seq, first + 2);
  assert.deepEqual(b?.series, series(2));
  assert.equal(b?.host, 'h1');
  assert.equal(b?.spool, s.id);
  assert.equal(await again.append(series(9)), first + 5);
  for (const q of [first + 2, first + 3, first + 4, first + 5]) await again.ack(q);
  assert.deepEqual((await readdir(dir)).sort(), ['acked', 'id']);

  // Empty, restarted: numbering continues after the last acknowledged batch.
  const third = await Spool.open(opts(dir));
  assert.equal(third.nextSeq, first + 6);
});

test('over its budget the spool drops its oldest batches and counts them', async (t) => {
  const dir = await tempDir(t);
  const s = await Spool.open(opts(dir, { maxBatches: 3 }));
  const first = s.nextSeq;
  for (let i = 0; i < 10; i++) await s.append(series(i));
  assert.equal(s.stats().batches, 3);
  assert.equal(s.stats().dropped, 7);
  assert.equal(s.stats().droppedSamples, 7);
  assert.equal((await s.oldest())?.seq, first + 7);
  const bytes = await Spool.open(opts(dir, { maxBytes: 1 }));
  await bytes.append(series(1));
  assert.equal(bytes.stats().batches, 1, 'the newest batch is always kept');
});

test('a corrupt or half-written file is removed, not shipped; a failed write is counted, not thrown', async (t) => {
  const dir = await tempDir(t);
  const s = await Spool.open(opts(dir));
  const a = (await s.append(series(1))) ?? 0;
  await s.append(series(2));
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(dir, `${a}.json.gz`), '{"seq": 1, "tru');
  await writeFile(join(dir, `${a + 5}.json.gz.tmp`), 'partial');
  const again = await Spool.open(opts(dir));
  assert.equal((await again.oldest())?.seq, a + 1);
  assert.equal(again.stats().corrupt, 1);
  assert.ok(!(await readdir(dir)).some((f) => f.endsWith('.tmp')));
  await rm(dir, { recursive: true, force: true });
  assert.equal(await again.append(series(3)), undefined);
  assert.equal(again.stats().writeFailures, 1);
});

/** A real HTTP ingest endpoint that can be down, fail, or refuse; it records what it applied. */
async function ingestServer(t: TestContext) {
  const state = { mode: 'ok' as 'ok' | 'fail' | 'refuse', applied: [] as number[], highest: 0, requests: 0 };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      state.requests++;
      const b = JSON.parse(body) as WireBatch;
      if (state.mode === 'fail') {
        res.writeHead(503).end('{"code":"DABBA_E_UNAVAILABLE","message":"down"}');
        return;
      }
      if (state.mode === 'refuse') {
        res.writeHead(400).end('{"code":"DABBA_E_VALIDATION","message":"bad"}');
        return;
      }
      if (b.seq > state.highest) {
        state.highest = b.seq;
        state.applied.push(b.seq);
      }
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ accepted: 1, seq: b.seq }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const send = async (b: WireBatch): Promise<IngestAck> => {
    const res = await fetch(url, { method: 'POST', body: JSON.stringify(b) });
    const json = (await res.json()) as { code?: string; message?: string } & IngestAck;
    if (!res.ok)
      throw new DabbaError(
        json.code === 'DABBA_E_VALIDATION' ? 'DABBA_E_VALIDATION' : 'DABBA_E_UNAVAILABLE',
        json.message ?? '',
      );
    return json;
  };
  return { state, send };
}

async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('the shipper delivers in order through failures, once each, and drops what the server refuses', async (t) => {
  const dir = await tempDir(t);
  const { state, send } = await ingestServer(t);
  const spool = await Spool.open(opts(dir));
  const ac = new AbortController();
  t.after(() => ac.abort());
  const shipper = new Shipper({
    spool,
    send,
    logger: silentLogger,
    signal: ac.signal,
    initialBackoffMs: 10,
    maxBackoffMs: 50,
  });
  const running = shipper.run();
  const seqs: number[] = [];
  for (let i = 0; i < 3; i++) seqs.push((await spool.append(series(i))) ?? 0);
  await until(() => state.applied.length === 3, 'three batches applied');
  state.mode = 'fail';
  for (let i = 3; i < 8; i++) seqs.push((await spool.append(series(i))) ?? 0);
  await until(() => shipper.stats.failures >= 3, 'failed attempts');
  assert.equal(spool.stats().batches, 5, 'kept while the server fails');
  state.mode = 'ok';
  await until(() => spool.stats().batches === 0, 'the backlog shipped');
  assert.deepEqual(state.applied, seqs, 'every batch, in order, no gap, no duplicate');
  state.mode = 'refuse';
  await spool.append(series(99));
  await until(() => shipper.stats.rejected === 1, 'a refused batch');
  assert.equal(spool.stats().batches, 0);
  ac.abort();
  await running;
});

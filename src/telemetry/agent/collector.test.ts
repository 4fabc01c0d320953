import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { silentLogger, systemClock } from '../../lib/index.ts';
import { CounterRegistry, serveMetrics } from '../../sdk/counters/index.ts';
import { Collector } from './collector.ts';
import {
  parseDiskstats,
  parseMeminfo,
  parseNetDev,
  parsePressure,
  parseProcStat,
  readHostStats,
} from './host-stats.ts';
import { scrape } from './scrape.ts';
import { Spool } from './spool.ts';

async function listen(t: TestContext, server: Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

test('host stats parse /proc text', () => {
  const stat = parseProcStat(
    'cpu  100 0 50 1000 5 0 2 0 0 0\ncpu0 100 0 50 1000 5 0 2 0 0 0\nctxt 42\nprocs_running 3\n',
  );
  assert.deepEqual(
    stat.filter((s) => s.name === 'host_cpu_seconds_total').map((s) => [s.labels['mode'], s.value]),
    [
      ['user', 1],
      ['nice', 0],
      ['system', 0.5],
      ['idle', 10],
      ['iowait', 0.05],
      ['irq', 0],
      ['softirq', 0.02],
      ['steal', 0],
    ],
  );
  assert.equal(stat.find((s) => s.name === 'host_cpus')?.value, 1);
  assert.equal(parseMeminfo('MemTotal:       16 kB\nMemAvailable:    8 kB\n')[1]?.value, 8192);
  const disk = parseDiskstats(
    '   8       0 sda 10 0 20 0 30 0 40 0 0 500 0 0 0 0 0 0 0\n   7 0 loop0 1 0 0 0 0 0 0 0 0 0 0\n',
  );
  assert.equal(disk.find((s) => s.name === 'host_disk_read_bytes_total')?.value, 20 * 512);
  assert.ok(disk.every((s) => s.labels['device'] === 'sda'));
  const net = parseNetDev('h1\nh2\n  eth0: 100 2 0 0 0 0 0 0 200 3 0 0 0 0 0 0\n');
  assert.equal(net.find((s) => s.name === 'host_network_transmit_bytes_total')?.value, 200);
  const p = parsePressure('cpu', 'some avg10=1.50 avg60=0.00 avg300=0.00 total=2500000\n');
  assert.equal(p[0]?.value, 2.5);
  assert.equal(p[1]?.value, 0.015);
  assert.deepEqual(parseProcStat('garbage\n\u0000'), []);
});

test("this host's /proc gives CPU, memory, network and disk figures", async () => {
  const names = new Set((await readHostStats()).map((s) => s.name));
  for (const n of [
    'host_cpu_seconds_total',
    'host_memory_available_bytes',
    'host_network_receive_bytes_total',
    'host_load1',
  ]) {
    assert.ok(names.has(n), n);
  }
  assert.deepEqual(await readHostStats('/nonexistent'), []);
});

test('a hostile endpoint costs one bounded scrape: too big, too slow, not HTTP 200', async (t) => {
  const big = await listen(
    t,
    createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const line = 'x 1\n'.repeat(16_384);
      const write = (): void => {
        while (res.write(line)) if (res.writableLength > 1e7) break;
        res.once('drain', write);
      };
      write();
    }),
  );
  const r = await scrape(big, { timeoutMs: 10_000, maxBytes: 1024 * 1024 });
  assert.equal(r.ok, false);
  assert.match(r.ok ? '' : r.error, /limit/);
  const slow = await listen(
    t,
    createServer(() => undefined),
  );
  const s = await scrape(slow, { timeoutMs: 200 });
  assert.match(s.ok ? '' : s.error, /no answer/);
  const err = await listen(
    t,
    createServer((_req, res) => res.writeHead(500).end()),
  );
  assert.deepEqual(await scrape(err, { timeoutMs: 2000 }), { ok: false, error: 'HTTP 500' });
  assert.equal((await scrape('http://127.0.0.1:1/', { timeoutMs: 2000 })).ok, false);
});

test('one collection: host, task usage and task counters, labelled, in one spooled batch', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'dabba-collector-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const r = new CounterRegistry();
  r.incrementCounter('hello_requests_total', 3);
  r.incrementCounter('tagged_total', 1, { job: 'spoofed', code: '200' });
  const server = await serveMetrics({ registry: r, host: '127.0.0.1' });
  t.after(() => server.close());
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
  const spool = await Spool.open({ dir, host: 'h1', logger: silentLogger, clock: systemClock });
  const c = new Collector({
    host: 'h1',
    intervalMs: 1000,
    spool,
    logger: silentLogger,
    clock: systemClock,
    targets: () => [
      {
        task: 'hello-abc',
        job: 'hello',
        namespace: 'default',
        version: 2,
        url,
        usage: () => Promise.resolve({ cpuSeconds: 1.5, memoryBytes: 1000, pids: 2 }),
      },
      { task: 'down-1', job: 'down', namespace: 'team', version: 1, url: 'http://127.0.0.1:1/metrics' },
    ],
  });
  const seq = await c.collectOnce();
  const batch = await spool.oldest();
  assert.equal(batch?.seq, seq);
  const find = (name: string, task?: string) =>
    batch?.series.find((s) => s.name === name && (task === undefined || s.labels['task'] === task));
  assert.deepEqual(find('hello_requests_total')?.labels, {
    host: 'h1',
    job: 'hello',
    namespace: 'default',
    task: 'hello-abc',
    version: '2',
  });
  assert.equal(find('hello_requests_total')?.kind, 'counter');
  assert.equal(find('hello_requests_total')?.samples[0]?.[1], 3);
  assert.deepEqual(find('tagged_total')?.labels, {
    code: '200',
    exported_job: 'spoofed',
    host: 'h1',
    job: 'hello',
    namespace: 'default',
    task: 'hello-abc',
    version: '2',
  });
  assert.equal(find('task_cpu_seconds_total')?.samples[0]?.[1], 1.5);
  assert.equal(find('dabba_scrape_up', 'hello-abc')?.samples[0]?.[1], 1);
  assert.equal(find('dabba_scrape_up', 'down-1')?.samples[0]?.[1], 0);
  assert.equal(find('host_cpu_seconds_total')?.labels['host'], 'h1');
  assert.ok(batch?.series.every((s) => s.samples.length === 1 && Number.isFinite(s.samples[0]?.[1])));
});

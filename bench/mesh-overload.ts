/**
 * Overload through the mesh (Facebook's queue timeout, seed 002): a service of capacity C (a
 * fixed-cost handler, `--cost-ms` each, at most `--concurrency` at once, so C = concurrency / cost)
 * is offered 150% of C for `--seconds` by an open-loop generator whose clients give up on a request
 * after 1 s, through a real HAProxy configured by Dabba from a dependency file: once with the
 * default queue timeout (100 ms) and once with it off (`queueTimeout: 0`: a request waits as long as
 * its upstream timeout, 3 s), in the same run, each against a fresh task. Printed: C as measured (the task always busy),
 * and per phase the goodput (2xx answers within the client's 1 s) against C.
 *
 *   node bench/mesh-overload.ts [--seconds 30] [--concurrency 4] [--cost-ms 50] [--load 1.5] [--max-concurrency 2 x concurrency]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { silentLogger } from '../src/lib/index.ts';
import { ProxySupervisor, proxyLayout, proxyServers, upstreamEnv } from '../src/mesh/host/index.ts';
import { parseMeshFile } from '../src/model/files.ts';
import { openLoop, percentile, startBackend, type Backend } from './mesh-load.ts';
import { table } from './report.ts';
import { freePortBlock } from '../test/helpers/ports.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    concurrency: { type: 'string', default: '4' },
    'cost-ms': { type: 'string', default: '50' },
    load: { type: 'string', default: '1.5' },
    'max-concurrency': { type: 'string' },
  },
});
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);
const costMs = Number(values['cost-ms']);
const load = Number(values.load);
// The proxy lets a task have a few more requests than it works on at once, so that the next one is
// already there when one finishes (else the task idles for a proxy round trip after each request).
const maxConcurrency = Number(values['max-concurrency'] ?? 2 * concurrency);
const DEADLINE_MS = 1000;

const file = `services:
  client:
    upstreams:
      svc-on: {}
      svc-off: {}
  svc-on:
    inbound: { maxConcurrency: ${String(maxConcurrency)}, queueTimeout: 100ms }
  svc-off:
    inbound: { maxConcurrency: ${String(maxConcurrency)}, queueTimeout: 0 }
`;

const dir = await mkdtemp(join(tmpdir(), 'dabba-bench-overload-'));
const proxy = new ProxySupervisor({ dir, logger: silentLogger });
const backends: Backend[] = [];
try {
  const on = await startBackend({ concurrency, costMs });
  const off = await startBackend({ concurrency, costMs });
  const probe = await startBackend({ concurrency, costMs });
  backends.push(on, off, probe);
  const parsed = parseMeshFile(file, 'overload.yaml');
  if (!parsed.ok) throw new Error('the dependency file does not validate');
  // Below the ephemeral range, and checked free: the load generator's own connections take ports there.
  const layout = proxyLayout(parsed.config, '127.0.0.1', await freePortBlock(16));
  const ep = (task: string, port: number) => ({
    task,
    host: 'h',
    address: '127.0.0.1',
    ports: { http: port },
    version: 1,
  });
  await proxy.apply(
    layout,
    proxyServers(layout, {
      'svc-on': [ep('on-1', on.port)],
      'svc-off': [ep('off-1', off.port)],
    }),
  );
  const env = upstreamEnv(layout, 'client');

  // C: what the task serves when it always has work: offered twice its nominal capacity for 6 s
  // directly (the excess waits in its own queue), counting the answers that arrive between 1 s and
  // 6 s (the backlog answered after the window does not count).
  const nominal = (concurrency * 1000) / costMs;
  const cal = await openLoop({
    url: `http://127.0.0.1:${String(probe.port)}/`,
    rate: 2 * nominal,
    durationMs: 6000,
    deadlineMs: 60_000,
  });
  const C = cal.goodAt.filter((t) => t >= 1000 && t < 6000).length / 5;
  console.log(
    `capacity C: ${C.toFixed(0)} req/s measured (nominal ${String(nominal)}: ${String(concurrency)} at once x ${String(costMs)} ms)`,
  );
  console.log(
    `offered ${String(load * 100)}% of C = ${(load * C).toFixed(0)} req/s for ${String(seconds)} s per phase; clients give up after ${String(DEADLINE_MS)} ms`,
  );

  const rows: (string | number)[][] = [];
  for (const [name, up] of [
    ['queue timeout 100 ms (default)', 'SVC_ON'],
    ['queue timeout off', 'SVC_OFF'],
  ] as const) {
    const url = `${env[`DABBA_UPSTREAM_${up}`] ?? ''}/`;
    const r = await openLoop({ url, rate: load * C, durationMs: seconds * 1000, deadlineMs: DEADLINE_MS });
    const goodput = r.good / seconds;
    rows.push([
      name,
      r.sent,
      goodput.toFixed(0),
      `${((100 * goodput) / C).toFixed(1)}%`,
      `${((100 * r.good) / r.sent).toFixed(1)}%`,
      r.rejected,
      r.gaveUp,
      r.errors,
      percentile(r.goodLatencies, 50).toFixed(1),
      percentile(r.goodLatencies, 99).toFixed(1),
      r.maxLagMs.toFixed(1),
    ]);
  }
  table(
    `Goodput at ${String(load * 100)}% of capacity (C = ${C.toFixed(0)} req/s), ${String(seconds)} s per phase`,
    [
      'phase',
      'sent',
      'goodput/s',
      'of C',
      'served',
      'rejected (503)',
      'gave up',
      'errors',
      'p50 ms',
      'p99 ms',
      'gen lag ms',
    ],
    rows,
  );
  console.log(
    `load average (1 min) at the end: ${loadavg()[0]?.toFixed(1) ?? '?'} on ${String(cpus().length)} CPUs`,
  );
  console.log(
    "\nFacebook's figure (seed 002): 66% served at 150% load with a queue timeout; without, collapse.",
  );
} finally {
  await proxy.stop();
  for (const b of backends) b.stop();
  await rm(dir, { recursive: true, force: true });
}

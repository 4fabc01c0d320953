/**
 * The mesh's added latency: GET of a few bytes at `--rate` requests/s (default 1,000) from an
 * open-loop generator that corrects for coordinated omission (bench/mesh-load.ts), to the same task
 * three ways in the same run, interleaved in rounds: directly; one hop (the caller's proxy, a real
 * HAProxy configured by Dabba from a dependency file, to a task on its own host); two hops (the
 * caller's proxy, then over mutual TLS the inbound side of another host's proxy, then the task:
 * host A's proxy on 127.0.0.1, host B's on 127.0.0.2, certificates from one cluster CA). Printed: p50, p99,
 * p99.9 and max per path and what each adds to direct; each proxy's memory (master + worker RSS)
 * and its worker's CPU per 1,000 requests/s.
 *
 *   node bench/mesh.ts [--rate 1000] [--seconds 20] [--rounds 3]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createClusterCa, issueHostKeyAndCertificate, openClusterCa } from '../src/auth/pki/index.ts';
import { silentLogger } from '../src/lib/index.ts';
import {
  ProxySupervisor,
  proxyLayout,
  proxyServers,
  runtimeCommand,
  upstreamEnv,
  writeInboundTls,
} from '../src/mesh/host/index.ts';
import { type ServiceEndpoint } from '../src/model/index.ts';
import { parseMeshFile } from '../src/model/files.ts';
import { openLoop, percentile, procUsage, startBackend } from './mesh-load.ts';
import { table } from './report.ts';
import { freePortBlock } from '../test/helpers/ports.ts';

const { values } = parseArgs({
  options: {
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
  },
});
const rate = Number(values.rate);
const seconds = Number(values.seconds);
const rounds = Number(values.rounds);
// Below the ephemeral range (the generator's own connections took a random port there), checked free.
const base = await freePortBlock(16);

const ep = (task: string, host: string, port: number): ServiceEndpoint => ({
  task,
  host,
  address: '127.0.0.1',
  ports: { http: port },
  version: 1,
});

function parse(text: string): ReturnType<typeof parseMeshFile> & { ok: true } {
  const r = parseMeshFile(text, 'bench.yaml');
  if (!r.ok) throw new Error('the dependency file does not validate');
  return r;
}

async function workerPid(p: ProxySupervisor): Promise<number> {
  return Number(/^Pid: (\d+)/m.exec(await runtimeCommand(p.socket, 'show info'))?.[1]);
}

async function usage(
  p: ProxySupervisor,
): Promise<{ rssBytes: number; pssBytes: number; cpuSeconds: number }> {
  const master = await procUsage(p.pid ?? 0);
  const worker = await procUsage(await workerPid(p));
  return {
    rssBytes: master.rssBytes + worker.rssBytes,
    pssBytes: master.pssBytes + worker.pssBytes,
    cpuSeconds: worker.cpuSeconds,
  };
}

const dirA = await mkdtemp(join(tmpdir(), 'dabba-bench-mesh-a-'));
const dirB = await mkdtemp(join(tmpdir(), 'dabba-bench-mesh-b-'));
const a = new ProxySupervisor({ dir: dirA, logger: silentLogger });
const b = new ProxySupervisor({ dir: dirB, logger: silentLogger });
const task = await startBackend();
try {
  // front calls back (its task on host A: one hop) and back2 (the same task process, as if on host
  // B: two hops). Limits high enough that a stall of this machine does not turn into 503s (a figure
  // of latency, not of overload: see bench/mesh-overload.ts).
  const config = parse(
    'services:\n  front:\n    upstreams:\n      back: {}\n      back2: {}\n' +
      '  back:\n    inbound: { maxConcurrency: 1000 }\n  back2:\n    inbound: { maxConcurrency: 1000 }\n',
  ).config;
  const ca = await createClusterCa();
  const cluster = openClusterCa(ca.certPem, ca.keyPem);
  const hosts = { 'host-a': '127.0.0.1', 'host-b': '127.0.0.2' };
  const endpoints = {
    back: [ep('back-1', 'host-a', task.port)],
    back2: [ep('back2-1', 'host-b', task.port)],
  };
  let layoutA: ReturnType<typeof proxyLayout> | undefined;
  for (const [host, proxy, dir] of [
    ['host-a', a, dirA],
    ['host-b', b, dirB],
  ] as const) {
    const address = hosts[host];
    const cert = await issueHostKeyAndCertificate(cluster, { hostId: host, address });
    const tls = await writeInboundTls(dir, { certPem: cert.certPem, keyPem: cert.keyPem, caPem: ca.certPem });
    const layout = proxyLayout(config, address, base, tls);
    await proxy.apply(layout, proxyServers(layout, endpoints, { host, hosts }));
    if (host === 'host-a') layoutA = layout;
  }
  if (layoutA === undefined) throw new Error('no layout for host A');
  const env = upstreamEnv(layoutA, 'front');
  const paths = [
    ['direct', `http://127.0.0.1:${String(task.port)}/`],
    ['one hop', `${env['DABBA_UPSTREAM_BACK'] ?? ''}/`],
    ['two hops (mTLS)', `${env['DABBA_UPSTREAM_BACK2'] ?? ''}/`],
  ] as const;
  for (const [, url] of paths) await openLoop({ url, rate, durationMs: 2000 }); // warm up
  const lat = new Map<string, number[]>(paths.map(([n]) => [n, []]));
  const stats = new Map<string, { sent: number; good: number; lag: number }>();
  let cpuOneHop = 0;
  for (let round = 0; round < rounds; round++) {
    for (const [name, url] of paths) {
      const before = await usage(a);
      const r = await openLoop({ url, rate, durationMs: seconds * 1000 });
      const after = await usage(a);
      if (name === 'one hop') cpuOneHop += after.cpuSeconds - before.cpuSeconds;
      lat.get(name)?.push(...r.latencies);
      const s = stats.get(name) ?? { sent: 0, good: 0, lag: 0 };
      stats.set(name, { sent: s.sent + r.sent, good: s.good + r.good, lag: Math.max(s.lag, r.maxLagMs) });
    }
  }
  const direct = (lat.get('direct') ?? []).sort((x, y) => x - y);
  const q = (xs: number[], p: number): number => percentile(xs, p);
  const rows: (string | number)[][] = [];
  for (const [name] of paths) {
    const xs = (lat.get(name) ?? []).sort((x, y) => x - y);
    const s = stats.get(name);
    const add = (p: number): string =>
      name === 'direct' ? '' : ` (+${(q(xs, p) - q(direct, p)).toFixed(3)})`;
    rows.push([
      name,
      s?.sent ?? 0,
      s?.good ?? 0,
      `${q(xs, 50).toFixed(3)}${add(50)}`,
      `${q(xs, 99).toFixed(3)}${add(99)}`,
      `${q(xs, 99.9).toFixed(3)}${add(99.9)}`,
      (xs.at(-1) ?? NaN).toFixed(1),
      (s?.lag ?? 0).toFixed(1),
    ]);
  }
  table(
    `Latency at ${String(rate)} req/s (ms from each request's intended start; ${String(rounds)} x ${String(seconds)} s per path, interleaved)`,
    ['path', 'sent', '2xx', 'p50 (added)', 'p99 (added)', 'p99.9 (added)', 'max', 'gen lag max'],
    rows,
  );
  console.log(
    `load average (1 min) at the end: ${loadavg()[0]?.toFixed(1) ?? '?'} on ${String(cpus().length)} CPUs`,
  );
  const ua = await usage(a);
  const ub = await usage(b);
  const cpuPer1k = cpuOneHop / (rounds * seconds) / (rate / 1000);
  table(
    'Proxies',
    ['proxy', 'master + worker RSS', 'master + worker PSS', 'worker CPU per 1,000 req/s (one hop)'],
    [
      [
        'host A (caller side)',
        `${(ua.rssBytes / 1048576).toFixed(1)} MB`,
        `${(ua.pssBytes / 1048576).toFixed(1)} MB`,
        `${(cpuPer1k * 100).toFixed(1)}% of a core`,
      ],
      [
        'host B (inbound side, mTLS)',
        `${(ub.rssBytes / 1048576).toFixed(1)} MB`,
        `${(ub.pssBytes / 1048576).toFixed(1)} MB`,
        '',
      ],
    ],
  );
} finally {
  await a.stop();
  await b.stop();
  task.stop();
  await rm(dirA, { recursive: true, force: true });
  await rm(dirB, { recursive: true, force: true });
}

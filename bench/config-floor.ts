/**
 * The least CPU a host can spend on a large config in a distribution tree, measured on this
 * machine, and what it allows for `bench/config-large.ts`'s goals when all the hosts share its cores.
 *
 * Every host of a tree (or of the star) does at least, per content of SIZE MB: receive it over TLS
 * from its upstream (the upstream's sending costs as much again: one hop, both ends, is measured),
 * hash it (SHA-256, the digest check), write it into its cache, and copy it into the task's mount.
 * Each is measured alone, with nothing of Dabba around it: the hash over one buffer, one write, one
 * `copyFile`, and the hop twice:
 *
 * - over loopback, sender and receiver in this process (their CPU only: the least TLS costs);
 * - through the testbed's own network, as config-large's hosts send (`bench/config-floor-hop.ts`):
 *   from one testbed host's namespace to another's over TLS, out of its eth0, across the bridge and
 *   into the other's veth, each limited with `tc` at RATE as config-large limits them; counted is
 *   the whole machine's busy CPU during the transfer (both processes, and the kernel's network work,
 *   part of which runs outside either). This one goes into the floor.
 *
 * The sum is a lower bound of a host's CPU; HOSTS hosts need HOSTS times it, whatever the route, and
 * on this machine's cores that takes at least that sum divided by the cores. The star cannot beat
 * its server's link either: HOSTS x SIZE through one NIC at RATE. Needs root (namespaces, `tc`).
 *
 *   node bench/config-floor.ts [--hosts 16] [--size-mb 100] [--rate-gbit 1]
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { parseArgs } from 'node:util';
import { createClusterCa, issueServerCertificate, openClusterCa } from '../src/auth/index.ts';
import { startTestbedNetwork } from '../scripts/testbed/index.ts';
import { limitLinks } from './config-testbed.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '16' },
    'size-mb': { type: 'string', default: '100' },
    'rate-gbit': { type: 'string', default: '1' },
  },
});
const HOSTS = Number(values.hosts);
const MB = 1024 * 1024;
const SIZE = Number(values['size-mb']) * MB;
const RATE_GBIT = Number(values['rate-gbit']);
const CORES = cpus().length;
const RUNS = 3;
/** The port the hop's receiver listens on, in its testbed host's namespace. */
const HOP_PORT = 9443;

/** CPU seconds of this process (every thread) while `fn` runs; the least of RUNS runs. */
async function cpuOf(fn: () => unknown): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < RUNS; i++) {
    const before = process.cpuUsage();
    await fn();
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / 1e6);
  }
  return best;
}

/** One hop: SIZE bytes over TLS on loopback, the sender and the receiver both in this process. */
async function tlsHop(data: Buffer, cert: Pem): Promise<{ cpu: number; cipher: string }> {
  const server = createServer({ cert: cert.certPem, key: cert.keyPem }, (s) => {
    let n = 0;
    s.on('data', (b: Buffer) => {
      n += b.length;
      if (n >= data.length) s.end();
    });
    s.on('error', () => undefined);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  let cipher = '';
  try {
    const cpu = await cpuOf(async () => {
      const sock: TLSSocket = connect({ port, host: '127.0.0.1', rejectUnauthorized: false });
      await once(sock, 'secureConnect');
      cipher = sock.getCipher().name;
      for (let off = 0; off < data.length; off += MB)
        if (!sock.write(data.subarray(off, off + MB))) await once(sock, 'drain');
      await once(sock, 'end');
      sock.destroy();
    });
    return { cpu, cipher };
  } finally {
    server.close();
  }
}

interface Pem {
  certPem: string;
  keyPem: string;
}

/** The testbed hop's runs: it varies more from run to run than the steps within one process. */
const HOP_RUNS = 7;

interface HopRun {
  /** The whole machine's busy CPU seconds during the transfer. */
  machine: number;
  seconds: number;
}

/**
 * One hop through the testbed's network at RATE, HOP_RUNS times: host 1 sends SIZE bytes to host 0
 * over TLS. The runs, the least machine CPU first.
 */
async function testbedHop(cert: Pem, dir: string): Promise<HopRun[]> {
  const certFile = join(dir, 'hop-cert.pem');
  const keyFile = join(dir, 'hop-key.pem');
  writeFileSync(certFile, cert.certPem);
  writeFileSync(keyFile, cert.keyPem, { mode: 0o600 });
  const tb = startTestbedNetwork({ hosts: 2 });
  try {
    limitLinks(tb, `${RATE_GBIT}gbit`);
    const hop = join(import.meta.dirname, 'config-floor-hop.ts');
    const to = tb.hosts[0]?.address ?? '';
    const runs: HopRun[] = [];
    for (let i = 0; i < HOP_RUNS; i++) {
      const [recv, sent] = await Promise.all([
        tb.exec(
          0,
          [process.execPath, hop, 'serve', String(HOP_PORT), certFile, keyFile, String(SIZE)],
          120_000,
        ),
        tb.exec(1, [process.execPath, hop, 'send', to, String(HOP_PORT), String(SIZE)], 120_000),
      ]);
      if (recv.code !== 0 || sent.code !== 0)
        throw new Error(`the hop through the testbed failed:\n${recv.stderr}\n${sent.stderr}`);
      runs.push(JSON.parse(sent.stdout) as HopRun);
    }
    return runs.sort((x, y) => x.machine - y.machine);
  } finally {
    await tb.stop();
  }
}

async function main(): Promise<void> {
  console.log(
    `The least CPU per host for a ${SIZE / MB} MB config, ${HOSTS} hosts on ${CORES} cores ` +
      `(${cpus()[0]?.model ?? 'cpu'}), node ${process.version}; the least of ${RUNS} runs each ` +
      `(the testbed hop: the least and the median of ${HOP_RUNS})`,
  );
  const data = randomBytes(SIZE);
  const dir = mkdtempSync(join(tmpdir(), 'dabba-config-floor-'));
  try {
    const made = await createClusterCa();
    const cert = await issueServerCertificate(openClusterCa(made.certPem, made.keyPem), { names: [] });
    const hop = await tlsHop(data, cert);
    const hops = await testbedHop(cert, dir);
    const least = hops[0]?.machine ?? 0;
    const median = hops[Math.floor(hops.length / 2)]?.machine ?? 0;
    const hash = await cpuOf(() => createHash('sha256').update(data).digest());
    const cache = join(dir, 'cache');
    const write = await cpuOf(() => {
      rmSync(cache, { force: true });
      writeFileSync(cache, data);
    });
    const mount = join(dir, 'mount');
    const copy = await cpuOf(() => {
      rmSync(mount, { force: true });
      copyFileSync(cache, mount);
    });
    const rest = hash + write + copy;
    const s = (x: number): string => `${x.toFixed(3)} s`;
    const both = (f: (hopCpu: number) => number): [string, string] => [s(f(least)), s(f(median))];
    const floorS = (hopCpu: number): number => (HOSTS * (hopCpu + rest)) / CORES;
    const starLinkS = (HOSTS * SIZE * 8) / (RATE_GBIT * 1e9);
    const wall = hops.map((h) => h.seconds);
    table(
      `Per host, per ${SIZE / MB} MB (CPU seconds)`,
      ['step', 'least', 'median'],
      [
        [
          `one hop over TLS, sender and receiver (${hop.cipher}, loopback, their CPU only; not counted)`,
          s(hop.cpu),
          '',
        ],
        [
          `one hop over TLS through the testbed's network at ${RATE_GBIT} Gbit/s, the machine's CPU ` +
            `(${Math.min(...wall).toFixed(2)}-${Math.max(...wall).toFixed(2)} s each)`,
          s(least),
          s(median),
        ],
        ['SHA-256 (the digest check)', s(hash), ''],
        ['write into the cache', s(write), ''],
        ["copy into the task's mount", s(copy), ''],
        ['a host in all (a lower bound)', ...both((h) => h + rest)],
      ],
    );
    const ratio = (x: number): string => `${x.toFixed(2)}x`;
    const reachable = (h: number): string =>
      floorS(h) < 5 && starLinkS / floorS(h) >= 4 ? 'reachable' : 'NOT reachable here';
    table(
      `What ${HOSTS} hosts on ${CORES} cores allow, with the testbed hop's least and median`,
      ['figure', 'least', 'median'],
      [
        [`CPU for ${HOSTS} hosts, any route`, ...both((h) => HOSTS * (h + rest))],
        ['least time to the last host, tree or star (CPU / cores)', ...both(floorS)],
        [
          `the star's server link alone (${HOSTS} x ${SIZE / MB} MB at ${RATE_GBIT} Gbit/s)`,
          s(starLinkS),
          s(starLinkS),
        ],
        [
          'star / tree at best (link bound / CPU floor)',
          ratio(starLinkS / floorS(least)),
          ratio(starLinkS / floorS(median)),
        ],
        ['goal: tree >= 4x the star, < 5 s (at zero overhead)', reachable(least), reachable(median)],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

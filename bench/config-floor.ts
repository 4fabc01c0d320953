/**
 * The least CPU a host can spend on a large config in a distribution tree, measured on this
 * machine, and what it allows for `bench/config-large.ts`'s goals when all the hosts share its cores.
 *
 * Every host of a tree (or of the star) does at least, per content of SIZE MB: receive it over TLS
 * from its upstream (the upstream's sending costs as much again: one hop, both ends, is measured),
 * hash it (SHA-256, the digest check), write it into its cache, and copy it into the task's mount.
 * Each is measured here alone, in one process, with nothing of Dabba around it: TLS over loopback
 * (no veth, bridge or `tc` qdisc, which the testbed adds), the hash over one buffer, one write, one
 * `copyFile`. The sum is a lower bound of a host's CPU; HOSTS hosts need HOSTS times it, whatever
 * the route, and on this machine's cores that takes at least that sum divided by the cores. The star
 * cannot beat its server's link either: HOSTS x SIZE through one NIC at RATE.
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
async function tlsHop(data: Buffer): Promise<{ cpu: number; cipher: string }> {
  const made = await createClusterCa();
  const cert = await issueServerCertificate(openClusterCa(made.certPem, made.keyPem), { names: [] });
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

async function main(): Promise<void> {
  console.log(
    `The least CPU per host for a ${SIZE / MB} MB config, ${HOSTS} hosts on ${CORES} cores ` +
      `(${cpus()[0]?.model ?? 'cpu'}), node ${process.version}; the least of ${RUNS} runs each`,
  );
  const data = randomBytes(SIZE);
  const dir = mkdtempSync(join(tmpdir(), 'dabba-config-floor-'));
  try {
    const hop = await tlsHop(data);
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
    const perHost = hop.cpu + hash + write + copy;
    const floorS = (HOSTS * perHost) / CORES;
    const starLinkS = (HOSTS * SIZE * 8) / (RATE_GBIT * 1e9);
    const s = (x: number): string => `${x.toFixed(3)} s`;
    table(
      `Per host, per ${SIZE / MB} MB (CPU seconds)`,
      ['step', 'cpu'],
      [
        [`one hop over TLS, sender and receiver (${hop.cipher}, loopback)`, s(hop.cpu)],
        ['SHA-256 (the digest check)', s(hash)],
        ['write into the cache', s(write)],
        ["copy into the task's mount", s(copy)],
        ['a host in all (a lower bound)', s(perHost)],
      ],
    );
    table(
      `What ${HOSTS} hosts on ${CORES} cores allow`,
      ['figure', 'value'],
      [
        [`CPU for ${HOSTS} hosts, any route`, s(HOSTS * perHost)],
        ['least time to the last host, tree or star (CPU / cores)', s(floorS)],
        [`the star's server link alone (${HOSTS} x ${SIZE / MB} MB at ${RATE_GBIT} Gbit/s)`, s(starLinkS)],
        ['star / tree at best (link bound / CPU floor)', `${(starLinkS / floorS).toFixed(2)}x`],
        [
          'goal: tree >= 4x the star, < 5 s',
          floorS < 5 && starLinkS / floorS >= 4 ? 'reachable' : 'NOT reachable here',
        ],
      ],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

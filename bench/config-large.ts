/**
 * A large config (SIZE MB, default 100) to HOSTS testbed hosts (default 16) whose links are limited
 * with `tc` to emulate NICs (RATE, default 1gbit): every host's upload (its eth0) and download (the
 * bridge side of its veth), and the server's NIC (the bridge device, through which the server's
 * traffic to the hosts leaves). A job of one task per host mounts big/blob.bin. Then, on the same
 * hosts in the same run: through the tree (fan-out 2 and 3) and through the star (fan-out 0: every
 * host fetches from the server directly). Measured: from the version's store time (its record's
 * `at`) to each task's file showing it; printed per case the first and last host and the ratio
 * star / tree. Goals: the tree >= 4x faster than the star, and < 5 s to the last host at 1 Gbit/s.
 *
 * Also printed per case: the CPU seconds (utime + stime from /proc) the agents and the server spent
 * during the transfer, and per agent per 100 MB received, to say what two shared cores allow; and
 * what the agents spend as long with nothing to distribute (measured over 10 s before the cases).
 *
 *   node bench/config-large.ts [--hosts 16] [--size-mb 100] [--rate 1gbit] [--fanouts 2,3,0]
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, watch } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JobView } from '../src/model/index.ts';
import { startTestbed, type Testbed } from '../scripts/testbed/index.ts';
import { limitLinks, status, until, useFanout } from './config-testbed.ts';
import { table } from './report.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '16' },
    'size-mb': { type: 'string', default: '100' },
    rate: { type: 'string', default: '1gbit' },
    /** The fan-outs to run, in order (0: the star). */
    fanouts: { type: 'string', default: '2,3,0' },
  },
});
const HOSTS = Number(values.hosts);
const SIZE = Number(values['size-mb']) * 1024 * 1024;
const RATE = values.rate;
const PATH = 'big/blob.bin';
const MOUNT = '/etc/big/blob.bin';

/** CPU seconds (user + system) of a process so far; 0 when it is gone. */
function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return 0;
  }
}

/**
 * What the agents spend with nothing to distribute (heartbeats, log polling...), CPU seconds per
 * second, all together over 10 s: the part of each case's CPU that is not the transfer's.
 */
async function idleCpuRate(tb: Testbed): Promise<number> {
  const before = tb.hosts.map((h) => cpuSeconds(h.pid));
  const at = performance.now();
  await new Promise((r) => setTimeout(r, 10_000));
  const used = tb.hosts.reduce((a, h, i) => a + cpuSeconds(h.pid) - (before[i] ?? 0), 0);
  return used / ((performance.now() - at) / 1000);
}

/** The testbed server's pid: the process whose command line has its data dir. */
function serverPid(tb: Testbed): number | undefined {
  const dir = join(tb.stateDir, 'data', 'server');
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('server') && cmd.includes(dir)) return Number(p);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

async function transfer(tb: Testbed, out: string, files: string[], n: number): Promise<number[]> {
  const f = join(out, `v${n}.bin`);
  await writeFile(f, randomBytes(SIZE));
  const version = `${n}\n`;
  const at = new Array<number>(files.length).fill(-1);
  let left = files.length;
  const checks = files.map((file, i) => (): void => {
    if (at[i] !== -1) return;
    void readFile(`${file}.version`, 'utf8').then(
      (v) => {
        if (v === version && at[i] === -1) {
          at[i] = Date.now();
          left--;
        }
      },
      () => undefined,
    );
  });
  const watchers = files.map((file, i) => watch(join(file, '..'), checks[i] ?? (() => undefined)));
  try {
    const put = await tb.cli(['config', 'put', PATH, f, '--message', `large ${n}`], { timeoutMs: 600_000 });
    if (put.code !== 0) throw new Error(put.stderr);
    for (const c of checks) c();
    await until(
      'every host on the new version',
      () => Promise.resolve(left === 0 ? true : undefined),
      900_000,
      50,
    );
  } finally {
    for (const w of watchers) w.close();
    await rm(f, { force: true });
  }
  const stored = (await status(tb, PATH)).latest.at;
  return at.map((t) => t - stored).sort((a, b) => a - b);
}

/**
 * Stops the agents with SIGTERM (tb.stop() kills them), so that an agent run with
 * NODE_OPTIONS=--cpu-prof writes its profile.
 */
async function stopAgents(tb: Testbed): Promise<void> {
  await Promise.all(
    tb.hosts.map(async (h) => {
      if (h.pid === undefined) return;
      const pid = h.pid;
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        return;
      }
      await until(
        'the agent to stop',
        () => Promise.resolve(cpuSeconds(pid) === 0 || undefined),
        20_000,
      ).catch(() => undefined);
    }),
  );
}

async function main(): Promise<void> {
  const out = await mkdtemp(join(tmpdir(), 'dabba-bench-cfglarge-'));
  const tb = await startTestbed({
    hosts: HOSTS,
    racks: HOSTS,
    logLevel: 'warn',
    readyTimeoutMs: 120_000,
    // This machine is shared: a host slow to heartbeat is not to be taken for dead mid-run.
    hostTimeout: '60s',
  });
  try {
    await writeFile(join(out, 'v1.bin'), 'small\n');
    await tb.cli(['config', 'put', PATH, join(out, 'v1.bin'), '--message', 'small']);
    const job = tb.writeJob(
      'big',
      [
        'name: big',
        `replicas: ${HOSTS}`,
        'task:',
        '  command: ["sleep", "1000000"]',
        '  resources: { cpu: 0.001, memory: 1Mi }',
        '  configs:',
        `    - { path: ${PATH}, mount: ${MOUNT} }`,
        'placement:',
        `  spread: [{ attribute: rack, min: ${HOSTS} }]`,
        '',
      ].join('\n'),
    );
    const d = await tb.cli(['deploy', job], { timeoutMs: 600_000 });
    if (d.code !== 0) throw new Error(d.stdout + d.stderr);
    const tasks = await until(
      `${HOSTS} tasks on ${HOSTS} hosts`,
      async () => {
        const v: JobView = await tb.job('big');
        const r = v.tasks.filter((t) => t.state === 'running');
        return r.length === HOSTS && new Set(r.map((t) => t.host)).size === HOSTS ? r : undefined;
      },
      600_000,
      1000,
    );
    const files = tasks.map((t) => {
      const h = tb.hosts.find((x) => x.id === t.host);
      if (!h) throw new Error(`no host ${t.host ?? ''}`);
      return join(h.dataDir, 'configs', t.id, MOUNT.slice(1));
    });
    limitLinks(tb, RATE);
    const rows: (string | number)[][] = [];
    const lastOf = new Map<string, number>();
    let n = 1;
    const cases = values.fanouts.split(',').map((f) => {
      const fanout = Number(f);
      return [fanout === 0 ? 'star (fan-out 0)' : `tree (fan-out ${fanout})`, fanout] as const;
    });
    const cpu: (string | number)[][] = [];
    const idleRate = await idleCpuRate(tb);
    for (const [name, fanout] of cases) {
      await useFanout(tb, PATH, fanout, HOSTS);
      const spid = serverPid(tb);
      const agents0 = tb.hosts.map((h) => cpuSeconds(h.pid));
      const server0 = cpuSeconds(spid);
      const caseAt = performance.now();
      const t = await transfer(tb, out, files, ++n);
      const caseS = (performance.now() - caseAt) / 1000;
      const agents = tb.hosts.map((h, i) => cpuSeconds(h.pid) - (agents0[i] ?? 0));
      const agentsS = agents.reduce((a, x) => a + x, 0);
      cpu.push([
        name,
        agentsS.toFixed(1),
        ((agentsS / HOSTS) * (100 / (SIZE / 1024 / 1024))).toFixed(2),
        Math.max(...agents).toFixed(1),
        (cpuSeconds(spid) - server0).toFixed(1),
        (idleRate * caseS).toFixed(1),
      ]);
      const last = t.at(-1) ?? 0;
      lastOf.set(name, last);
      rows.push([
        name,
        (t[0] ?? 0).toFixed(0),
        (t[Math.floor(t.length / 2)] ?? 0).toFixed(0),
        last.toFixed(0),
      ]);
      process.stderr.write(`${name}: last host after ${last} ms\n`);
    }
    const star = lastOf.get('star (fan-out 0)') ?? 0;
    for (const r of rows) r.push(r[0] === 'star (fan-out 0)' ? '1.00' : (star / Number(r[3])).toFixed(2));
    table(
      `${SIZE / 1024 / 1024} MB config to ${HOSTS} testbed hosts, links at ${RATE} (ms from the version's store time)`,
      ['distribution', 'first host', 'median host', 'last host', 'star / this'],
      rows,
    );
    table(
      'CPU seconds during each transfer (agents: all hosts together; per agent per 100 MB received)',
      ['distribution', 'agents', 'per agent per 100 MB', 'busiest agent', 'server', 'agents idle as long'],
      cpu,
    );
  } finally {
    await stopAgents(tb);
    await tb.stop();
    await rm(out, { recursive: true, force: true });
  }
}

await main();

/**
 * A 1 KB config change to every subscriber of TASKS x CONFIGS real subscriptions on the testbed
 * (HOSTS network-namespace hosts, each with its own agent, process runtime): a job of TASKS tasks,
 * each mounting CONFIGS configs (app/c0.json ...); then, with the server's tree (fan-out 3, the
 * default) and then with the star (fan-out 0: every host fetches from the server) on the same hosts
 * in the same run, ROUNDS rounds in which every config gets a new 1 KB version (the puts at once).
 * Measured per subscription: from the start of its config's `config put` to the moment the task's
 * file shows the new version (inotify on each task's config directory, then `.version` read).
 * Printed: p50, p99 and max over every subscription and round. Goal: p99 < 1 s.
 * (1,000 tasks of one config each overloaded this 2-core machine's testbed: 100 x 10 by default.)
 *
 * Then where the time went (bench/config-stages.ts): per step from the put to the task's file, from
 * the server's and agents' logs (level info).
 *
 *   node bench/config-change.ts [--hosts 16] [--tasks 100] [--configs 10] [--rounds 3] [--fanouts 3,0]
 *     [--config-dir-under /dev/shm]   (the agents write task config files on a tmpfs)
 */
import { readFileSync, watch, type FSWatcher } from 'node:fs';
import { DabbaClient, type ConfigApi } from '../src/client/index.ts';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import type { JobView } from '../src/model/index.ts';
import { startTestbed } from '../scripts/testbed/index.ts';
import { until, useFanout } from './config-testbed.ts';
import { printStages, StageLogs, type Sample } from './config-stages.ts';
import { pct, table } from './report.ts';

const { values } = parseArgs({
  options: {
    hosts: { type: 'string', default: '16' },
    tasks: { type: 'string', default: '100' },
    configs: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    fanouts: { type: 'string', default: '3,0' },
    // The agents' --config-dir goes in a new directory under this one (e.g. /dev/shm, a tmpfs).
    'config-dir-under': { type: 'string' },
  },
});
const HOSTS = Number(values.hosts);
const TASKS = Number(values.tasks);
const CONFIGS = Number(values.configs);
const SUBS = TASKS * CONFIGS;
const ROUNDS = Number(values.rounds);
const FANOUTS = values.fanouts.split(',').map(Number);
const PATHS = Array.from({ length: CONFIGS }, (_, i) => `app/c${i}.json`);
const mountOf = (i: number): string => `/etc/app/c${i}/c.json`;

/** A 1 KB (1,024 bytes) JSON content for version n. */
const content = (n: number): string => {
  const head = JSON.stringify({ n, pad: '' });
  return JSON.stringify({ n, pad: 'x'.repeat(1023 - head.length) }) + '\n';
};

interface Sub {
  host: string;
  file: string;
  config: number;
}

/** One round: every config gets version n at once; per subscription, ms from its put's start. */
async function round(api: ConfigApi, subs: Sub[], n: number, samples: Sample[]): Promise<number[]> {
  const version = `${n}\n`;
  const took = new Array<number>(subs.length).fill(-1);
  const t0 = new Array<number>(CONFIGS).fill(0);
  const answered = new Array<number>(CONFIGS).fill(0);
  let left = subs.length;
  // The time is the inotify event's (the `.version` file renamed into place, the update's last
  // step), confirmed by reading the file: reads queued behind this process's other file work must
  // not count as the host's time.
  const checks = subs.map((s, i) => (): void => {
    const start = t0[s.config] ?? 0;
    if (took[i] !== -1 || start === 0) return;
    const at = Date.now();
    void readFile(`${s.file}.version`, 'utf8').then(
      (v) => {
        if (v === version && took[i] === -1) {
          took[i] = at - start;
          left--;
        }
      },
      () => undefined,
    );
  });
  const watchers: FSWatcher[] = subs.map((s, i) =>
    watch(join(s.file, '..'), (_event, name) => {
      if (name === `${basename(s.file)}.version`) checks[i]?.();
    }),
  );
  try {
    await Promise.all(
      PATHS.map(async (path, c) => {
        t0[c] = Date.now();
        await api.put(path, Buffer.from(content(n)), `round ${n}`);
        answered[c] = Date.now();
      }),
    );
    // A version written before its watcher saw it: look once more after the puts.
    for (const check of checks) check();
    await until(
      'every subscription on the new version',
      () => Promise.resolve(left === 0 ? true : undefined),
      300_000,
      50,
    );
  } finally {
    for (const w of watchers) w.close();
  }
  subs.forEach((s, i) => {
    const putSentAt = t0[s.config] ?? 0;
    samples.push({
      host: s.host,
      path: PATHS[s.config] ?? '',
      version: n,
      putSentAt,
      putAnsweredAt: answered[s.config] ?? 0,
      seenAt: putSentAt + (took[i] ?? 0),
    });
  });
  return took;
}

const load = (): string =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');

async function main(): Promise<void> {
  console.log(`load average at the start: ${load()}`);
  const out = await mkdtemp(join(tmpdir(), 'dabba-bench-cfgchange-'));
  const under = values['config-dir-under'];
  const configDir = under === undefined ? undefined : await mkdtemp(join(under, 'dabba-bench-cfgchange-'));
  if (configDir !== undefined) console.log(`task config files under ${configDir}`);
  const tb = await startTestbed({
    hosts: HOSTS,
    racks: HOSTS,
    // info: the stamps of each step (bench/config-stages.ts) are info lines.
    logLevel: 'info',
    readyTimeoutMs: 120_000,
    // This machine is shared: a host slow to heartbeat is not to be taken for dead mid-run.
    hostTimeout: '60s',
    ...(configDir === undefined ? {} : { agentArgs: ['--config-dir', configDir] }),
  });
  try {
    // Puts go through the API from this process (a CLI process per put is too slow here).
    const api = new DabbaClient({
      addr: tb.url,
      ...(tb.adminToken === undefined ? {} : { token: tb.adminToken }),
      ...(tb.caFile === undefined ? {} : { ca: readFileSync(tb.caFile, 'utf8') }),
      timeoutMs: 120_000,
    }).configs();
    for (const path of PATHS) await api.put(path, Buffer.from(content(1)), 'first');
    const job = tb.writeJob(
      'subs',
      [
        'name: subs',
        `replicas: ${TASKS}`,
        'task:',
        '  command: ["sleep", "1000000"]',
        '  resources: { cpu: 0.001, memory: 1Mi }',
        '  stopGracePeriod: 1s',
        '  configs:',
        ...PATHS.map((path, i) => `    - { path: ${path}, mount: ${mountOf(i)} }`),
        '',
      ].join('\n'),
    );
    const d = await tb.cli(['deploy', job, '--detach'], { timeoutMs: 120_000 });
    if (d.code !== 0) throw new Error(d.stdout + d.stderr);
    const tasks = await until(
      `${TASKS} tasks running`,
      async () => {
        const v: JobView = await tb.job('subs');
        const running = v.tasks.filter((t) => t.state === 'running');
        process.stderr.write(`\r${running.length}/${TASKS} running`);
        return running.length === TASKS ? running : undefined;
      },
      1_800_000,
      2000,
    );
    process.stderr.write('\n');
    const subs = tasks.flatMap((t) => {
      const h = tb.hosts.find((x) => x.id === t.host);
      if (!h) throw new Error(`no host ${t.host ?? ''}`);
      return PATHS.map((_, c) => ({
        host: h.id,
        file: join(configDir ?? join(h.dataDir, 'configs'), t.id, mountOf(c).slice(1)),
        config: c,
      }));
    });
    const hostsUsed = new Set(tasks.map((t) => t.host)).size;
    const rows: (string | number)[][] = [];
    let n = 1;
    for (const fanout of FANOUTS) {
      const name = fanout === 0 ? 'star (fan-out 0)' : `tree (fan-out ${fanout})`;
      await useFanout(tb, PATHS[0] ?? '', fanout, hostsUsed);
      const all: number[] = [];
      const samples: Sample[] = [];
      for (let r = 0; r < ROUNDS; r++) all.push(...(await round(api, subs, ++n, samples)));
      // The agents' log lines are written asynchronously: let them land.
      await new Promise((r) => setTimeout(r, 2000));
      const logs = new StageLogs(
        tb.serverLog,
        tb.hosts.map((h) => ({ host: h.id, file: h.logFile })),
      );
      printStages(name, logs, samples);
      all.sort((a, b) => a - b);
      rows.push([
        name,
        all.length,
        pct(all, 50).toFixed(0),
        pct(all, 99).toFixed(0),
        (all.at(-1) ?? 0).toFixed(0),
      ]);
    }
    table(
      `1 KB change to ${SUBS} subscriptions (${TASKS} tasks x ${CONFIGS} configs) on ${hostsUsed} testbed hosts, ${ROUNDS} rounds (ms from put to the task's file)`,
      ['distribution', 'samples', 'p50', 'p99', 'max'],
      rows,
    );
    console.log(`load average at the end: ${load()}`);
  } finally {
    await tb.stop();
    await rm(out, { recursive: true, force: true });
    if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
  }
}

await main();

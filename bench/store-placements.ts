/**
 * The store's share of placing tasks: 100,000 tasks written to a `SqliteStore` as the scheduler
 * writes them (a task record and its assignment, the same JSON, per task; 1,000 tasks a
 * transaction, 8 transactions in flight), with one watch receiving every event. Prints the wall
 * time, the process CPU (both threads) and the CPU of the calling thread (the API's, in a server).
 *
 * Then, in the same run, the peer: SQLite alone writing the same rows in the same commits, with no
 * Dabba code (bench/store-floor.ts), and what its layout's parts cost. The floor's rate is the most
 * placements per second this machine's store thread could commit with this layout, whatever the
 * rest of the control plane does; it is printed against issue 16's goal (25,000/s).
 *
 *   node bench/store-placements.ts [--tasks 100000] [--rounds 2]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys } from '../src/model/index.ts';
import { SqliteStore } from '../src/store/index.ts';
import { table } from './report.ts';
import { sqliteFloor, type FloorResult, type FloorVariant, type Row } from './store-floor.ts';

function arg(name: string, dflt: number, least: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isSafeInteger(v) || v < least)
    throw new Error(`--${name} needs a whole number of at least ${least}`);
  return v;
}

const TASKS = arg('tasks', 100_000, 1000);
const ROUNDS = arg('rounds', 2, 1);
const PER_TXN = 1000;
const IN_FLIGHT = 8;
const GOAL = 25_000;

/** A task's two keys (record, assignment) and its record, of the size the scale benchmark writes (about 200 bytes). */
function task(n: number): Row[] {
  const job = `job-${n % 663}`;
  const id = `${job}-${n.toString(36).padStart(6, '0')}`;
  const host = `sim-${String(n % 10_000).padStart(5, '0')}`;
  const value = JSON.stringify({
    id,
    job,
    version: 1,
    host,
    desired: 'run',
    createdAt: 1_765_000_000_000 + n,
    specAt: 1_765_000_000_000,
  });
  return [
    { key: keys.task(job, id), value },
    { key: keys.assignment(host, id), value },
  ];
}

interface Measured {
  wallS: number;
  cpuS: number;
  ownS: number;
}

/** The store: every task's two keys in one transaction per 1,000 tasks, 8 in flight, one watch on '/'. */
async function throughStore(dir: string, tasks: readonly Row[][]): Promise<Measured> {
  const store = await SqliteStore.open(join(dir, 'store.db'));
  const abort = new AbortController();
  try {
    let seen = 0;
    const watched = (async () => {
      for await (const batch of store.watch('/', { signal: abort.signal })) {
        seen += batch.length;
        if (seen >= 2 * tasks.length) return;
      }
    })();
    const cpu0 = process.cpuUsage();
    const own0 = process.threadCpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next * PER_TXN < tasks.length) {
          const b = next++;
          const success = tasks
            .slice(b * PER_TXN, (b + 1) * PER_TXN)
            .flatMap((rows) => rows.map((r) => ({ type: 'put' as const, key: r.key, value: r.value })));
          await store.txn({ compare: [], success });
        }
      }),
    );
    await watched;
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const own = process.threadCpuUsage(own0);
    return { wallS, cpuS: (cpu.user + cpu.system) / 1e6, ownS: (own.user + own.system) / 1e6 };
  } finally {
    abort.abort();
    await store.close();
    await rm(join(dir, 'store.db'), { force: true });
  }
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
const rate = (wallS: number): number => TASKS / wallS;
const least = <T extends { wallS: number }>(xs: T[]): T => xs.reduce((a, b) => (b.wallS < a.wallS ? b : a));

const tasks = Array.from({ length: TASKS }, (_, n) => task(n));
const dir = await mkdtemp(join(tmpdir(), 'dabba-store-placements-'));
try {
  const store: Measured[] = [];
  const floor = new Map<FloorVariant, FloorResult[]>();
  // Rounds alternate the store and its peers, so a machine that slows down mid-run slows both.
  for (let r = 0; r < ROUNDS; r++) {
    const s = await throughStore(dir, tasks);
    store.push(s);
    console.log(
      `${fmt(TASKS)} tasks: ${s.wallS.toFixed(2)} s wall, ${s.cpuS.toFixed(2)} s CPU (both threads), ` +
        `${s.ownS.toFixed(2)} s on the calling thread; load average ${loadavg()[0]?.toFixed(1) ?? '?'}`,
    );
    for (const v of ['full', 'no-history', 'one-key'] as const) {
      const f = await sqliteFloor(join(dir, `floor-${v}.db`), tasks, PER_TXN, v);
      floor.set(v, [...(floor.get(v) ?? []), f]);
    }
  }
  /** The best round of a peer (every round ran each). */
  const floorOf = (v: FloorVariant): FloorResult => least(floor.get(v) ?? []);
  const s = least(store);
  const full = floorOf('full');
  const row = (what: string, m: FloorResult): string[] => [
    what,
    m.wallS.toFixed(2),
    m.cpuS.toFixed(2),
    fmt(rate(m.wallS)),
    `${(rate(m.wallS) / GOAL).toFixed(2)}x`,
  ];
  table(
    `${fmt(TASKS)} tasks, ${PER_TXN} a commit; the best of ${ROUNDS} rounds each`,
    ['writer', 'wall s', 'CPU s', 'tasks/s', 'of the goal (25,000/s)'],
    [
      row('Dabba store (SqliteStore, watch on /)', s),
      row('SQLite alone, the same rows (the floor)', full),
      row('SQLite alone, kv rows only (no history)', floorOf('no-history')),
      row('SQLite alone, task records only (no assignment copy)', floorOf('one-key')),
    ],
  );
  console.log(`\nDabba store / SQLite alone (wall): ${(s.wallS / full.wallS).toFixed(2)}x`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

/**
 * The store's share of placing tasks: 100,000 tasks written to a `SqliteStore` as the scheduler
 * writes them (a task record and its assignment, the same JSON, per task; 1,000 tasks a
 * transaction, 8 transactions in flight), with one watch receiving every event. Prints the wall
 * time, the process CPU (both threads) and the CPU of the calling thread (the API's, in a server).
 *
 *   node bench/store-placements.ts [--tasks 100000]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys } from '../src/model/index.ts';
import { SqliteStore } from '../src/store/index.ts';

const i = process.argv.indexOf('--tasks');
const TASKS = i >= 0 ? Number(process.argv[i + 1]) : 100_000;
if (!Number.isSafeInteger(TASKS) || TASKS < 1000) throw new Error('--tasks needs a number of at least 1000');
const PER_TXN = 1000;
const IN_FLIGHT = 8;

/** A task record of the size the scale benchmark writes (about 200 bytes). */
function record(n: number): { job: string; id: string; host: string; value: string } {
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
  return { job, id, host, value };
}

const dir = await mkdtemp(join(tmpdir(), 'dabba-store-placements-'));
const store = await SqliteStore.open(join(dir, 'store.db'));
const abort = new AbortController();
try {
  let seen = 0;
  const watched = (async () => {
    for await (const batch of store.watch('/', { signal: abort.signal })) {
      seen += batch.length;
      if (seen >= 2 * TASKS) return;
    }
  })();
  const cpu0 = process.cpuUsage();
  const own0 = process.threadCpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < TASKS / PER_TXN) {
        const b = next++;
        const success = [];
        for (let n = b * PER_TXN; n < (b + 1) * PER_TXN; n++) {
          const r = record(n);
          success.push(
            { type: 'put' as const, key: keys.task(r.job, r.id), value: r.value },
            { type: 'put' as const, key: keys.assignment(r.host, r.id), value: r.value },
          );
        }
        await store.txn({ compare: [], success });
      }
    }),
  );
  await watched;
  const wall = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const own = process.threadCpuUsage(own0);
  console.log(
    `${TASKS.toLocaleString('en-US')} tasks: ${wall.toFixed(2)} s wall, ` +
      `${((cpu.user + cpu.system) / 1e6).toFixed(2)} s CPU (both threads), ` +
      `${((own.user + own.system) / 1e6).toFixed(2)} s on the calling thread; ` +
      `load average ${loadavg()[0]?.toFixed(1) ?? '?'}`,
  );
} finally {
  abort.abort();
  await store.close();
  await rm(dir, { recursive: true, force: true });
}

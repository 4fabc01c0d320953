/**
 * What SQLite itself needs for the rows a placement writes, with no Dabba code around it: the peer
 * `bench/store-placements.ts` runs beside the store. The same file settings (WAL, `synchronous =
 * FULL`, an exclusive lock, a 64 MiB cache), the same tables and statements (`initSchema`,
 * `Statements`), the same commits (1,000 tasks each), on the calling thread.
 *
 * Variants, to price the layout's parts: `full` (what the store writes per task: a lookup, a kv
 * row and a history row for the task record and again for its assignment), `no-history` (the kv
 * rows only) and `one-key` (the task record only, no assignment copy).
 */
import { DatabaseSync } from 'node:sqlite';
import { rm } from 'node:fs/promises';
import { initSchema } from '../src/store/sqlite/schema.ts';
import { Statements } from '../src/store/sqlite/statements.ts';

export type FloorVariant = 'full' | 'no-history' | 'one-key';

export interface Row {
  key: string;
  value: string;
}

export interface FloorResult {
  wallS: number;
  cpuS: number;
}

/** Writes `tasks` (each a list of keys with one value) in commits of `perTxn`, into a new file. */
export async function sqliteFloor(
  file: string,
  tasks: readonly Row[][],
  perTxn: number,
  variant: FloorVariant,
): Promise<FloorResult> {
  const db = new DatabaseSync(file);
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.prepare('PRAGMA journal_mode = WAL').get();
    db.exec('PRAGMA synchronous = FULL');
    db.exec('PRAGMA cache_size = -65536');
    initSchema(db, file);
    const st = new Statements(db);
    const cpu0 = process.threadCpuUsage();
    const t0 = performance.now();
    let rev = 0;
    for (let b = 0; b < tasks.length; b += perTxn) {
      st.begin.run();
      rev++;
      for (const rows of tasks.slice(b, b + perTxn)) {
        for (const r of variant === 'one-key' ? rows.slice(0, 1) : rows) {
          st.getKv.get(r.key);
          st.insertKv.run(r.key, r.value, rev, rev, 1, 0);
          if (variant !== 'no-history')
            st.insertHistory.run(rev, 0, r.key, r.value, rev, 1, 0, null, null, null, null, null);
        }
      }
      st.setMeta.run(rev, 'revision');
      st.commit.run();
    }
    const wallS = (performance.now() - t0) / 1000;
    const cpu = process.threadCpuUsage(cpu0);
    return { wallS, cpuS: (cpu.user + cpu.system) / 1e6 };
  } finally {
    db.close();
    await Promise.all(['', '-wal', '-shm'].map((s) => rm(file + s, { force: true })));
  }
}

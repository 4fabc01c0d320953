/**
 * Retention of log tables: rows older than the age limit go, and while the database holds more
 * than the size limit, the oldest quarter of every table's rows goes (then a checkpoint, so that the
 * freed blocks are reused). Runs every interval until the signal aborts.
 */
import type { Clock, Logger } from '../../lib/index.ts';
import { messageOf } from '../../errors/index.ts';
import { sleep, systemClock } from '../../lib/index.ts';
import { TIME, quoteIdent } from './columns.ts';
import type { LogTables } from './log-tables.ts';

export interface RetentionOptions {
  /** Rows older than this go (ms; default 7 days). */
  maxAgeMs?: number;
  /** The database's used size kept under this (bytes; default 1 GiB). */
  maxBytes?: number;
  /** How often (ms; default 60,000). */
  intervalMs?: number;
  clock?: Clock;
  logger?: Logger;
}

export const RETENTION_DEFAULTS = { maxAgeMs: 7 * 86_400_000, maxBytes: 1024 ** 3, intervalMs: 60_000 };

export interface RetentionPass {
  deletedByAge: number;
  deletedBySize: number;
  usedBytes: number;
}

/** The bytes of the blocks the database uses (its file may be larger: freed blocks are reused). */
export async function usedBytes(tables: LogTables): Promise<number> {
  return tables.writing(async (c) => {
    const r = await c.runAndReadAll('SELECT used_blocks, block_size FROM pragma_database_size()');
    const row = r.getRowObjectsJS()[0];
    return Number(row?.['used_blocks'] ?? 0) * Number(row?.['block_size'] ?? 0);
  });
}

/** One pass: by age, then by size (at most 8 rounds of a quarter each). */
export async function retainOnce(tables: LogTables, o: RetentionOptions = {}): Promise<RetentionPass> {
  const clock = o.clock ?? systemClock;
  const maxAge = o.maxAgeMs ?? RETENTION_DEFAULTS.maxAgeMs;
  const maxBytes = o.maxBytes ?? RETENTION_DEFAULTS.maxBytes;
  const cut = clock.now() - maxAge;
  const deletedByAge = await tables.writing(async (c, names) => {
    let n = 0;
    for (const t of names) {
      const r = await c.runAndReadAll(
        `DELETE FROM ${quoteIdent(t)} WHERE ${quoteIdent(TIME)} < epoch_ms($cut)`,
        {
          cut,
        },
      );
      n += Number(r.getRows()[0]?.[0] ?? 0);
    }
    if (n > 0) await c.run('CHECKPOINT');
    return n;
  });
  let deletedBySize = 0;
  let used = await usedBytes(tables);
  for (let round = 0; round < 8 && used > maxBytes; round++) {
    deletedBySize += await tables.writing(async (c, names) => {
      let n = 0;
      for (const t of names) {
        const time = quoteIdent(TIME);
        const r = await c.runAndReadAll(
          `DELETE FROM ${quoteIdent(t)} WHERE ${time} <= (SELECT quantile_disc(${time}, 0.25) FROM ${quoteIdent(t)})`,
        );
        n += Number(r.getRows()[0]?.[0] ?? 0);
      }
      await c.run('CHECKPOINT');
      return n;
    });
    used = await usedBytes(tables);
  }
  return { deletedByAge, deletedBySize, usedBytes: used };
}

/** Runs retention passes every interval until the signal aborts; a failed pass is logged, not fatal. */
export async function runRetention(
  tables: LogTables,
  o: RetentionOptions,
  signal: AbortSignal,
): Promise<void> {
  const every = o.intervalMs ?? RETENTION_DEFAULTS.intervalMs;
  while (!signal.aborted) {
    await sleep(every, signal);
    if (signal.aborted) return;
    try {
      const pass = await retainOnce(tables, o);
      if (pass.deletedByAge + pass.deletedBySize > 0) o.logger?.info(pass, 'log tables trimmed');
    } catch (e) {
      if (signal.aborted) return;
      o.logger?.warn({ err: messageOf(e) }, 'log table retention failed');
    }
  }
}

/**
 * Feeds the `events` log table from the event log in the store: at start, the events not yet fed
 * (by key, remembered in the table's database), then each new one as it is written. A lost watch
 * starts over the same way, so nothing is fed twice and nothing is missed while the store keeps it.
 */
import { messageOf } from '../errors/index.ts';
import type { Clock, Logger } from '../lib/index.ts';
import { sleep } from '../lib/index.ts';
import { keys, type DabbaEvent } from '../model/index.ts';
import type { KeyValue, Store } from '../store/index.ts';
import { EVENTS_TABLE, LogTables, eventRow, runRetention } from '../telemetry/logtables/index.ts';

const LAST_KEY = 'events.lastKey';

async function feed(tables: LogTables, kvs: readonly KeyValue[], last: string): Promise<string> {
  const fresh = kvs.filter((kv) => kv.key > last).sort((a, b) => (a.key < b.key ? -1 : 1));
  if (fresh.length === 0) return last;
  const byNamespace = new Map<string, Record<string, unknown>[]>();
  for (const kv of fresh) {
    let e: DabbaEvent;
    try {
      e = JSON.parse(kv.value) as DabbaEvent;
    } catch {
      continue;
    }
    const { row, namespace } = eventRow(e);
    let rows = byNamespace.get(namespace);
    if (!rows) byNamespace.set(namespace, (rows = []));
    rows.push(row);
  }
  for (const [namespace, rows] of byNamespace) {
    for (let i = 0; i < rows.length; i += 1000)
      await tables.insert(EVENTS_TABLE, rows.slice(i, i + 1000), { namespace });
  }
  const newest = fresh[fresh.length - 1]?.key ?? last;
  await tables.setMeta(LAST_KEY, newest);
  return newest;
}

export async function feedEventsTable(
  store: Store,
  tables: LogTables,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      let last = (await tables.getMeta(LAST_KEY)) ?? '';
      const { kvs, revision } = await store.range(keys.eventsPrefix);
      last = await feed(tables, kvs, last);
      for await (const batch of store.watch(keys.eventsPrefix, { signal, fromRevision: revision + 1 })) {
        last = await feed(
          tables,
          batch.filter((w) => w.type === 'put').map((w) => w.kv),
          last,
        );
      }
    } catch (e) {
      if (signal.aborted) return;
      logger.warn({ err: messageOf(e) }, 'feeding the events table failed; starting over');
      await sleep(1000, signal);
    }
  }
}

export interface LogTablesOptions {
  /** Rows older than this go (ms; default 7 days). */
  maxAgeMs?: number;
  /** The tables' used size kept under this (bytes; default 1 GiB). */
  maxBytes?: number;
  /** How often retention runs (ms; default 60,000). */
  retentionIntervalMs?: number;
}

/**
 * Opens the log tables in `dir`, or logs why not and answers undefined (the server runs without
 * them: `/v1/tables` answers 404). `run` starts the events feed and retention.
 */
export async function openLogTables(
  dir: string,
  o: LogTablesOptions & { clock: Clock; logger: Logger },
): Promise<{ tables: LogTables; run: (store: Store, signal: AbortSignal) => Promise<void>[] } | undefined> {
  const logger = o.logger.child({ part: 'logtables' });
  let tables: LogTables;
  try {
    tables = await LogTables.open({ dir, clock: o.clock });
  } catch (e) {
    logger.error({ err: messageOf(e), dir }, 'log tables could not be opened; running without them');
    return undefined;
  }
  return {
    tables,
    run: (store, signal) => [
      feedEventsTable(store, tables, logger, signal),
      runRetention(
        tables,
        {
          clock: o.clock,
          logger,
          ...(o.maxAgeMs === undefined ? {} : { maxAgeMs: o.maxAgeMs }),
          ...(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes }),
          ...(o.retentionIntervalMs === undefined ? {} : { intervalMs: o.retentionIntervalMs }),
        },
        signal,
      ),
    ],
  };
}

/**
 * A live copy of every key under one prefix: list, then watch from the next revision; on any watch
 * failure (compaction included) list again. Level-triggered: `onReset` gets the whole content after
 * every (re-)list, `onEvents` each batch of changes.
 */
import { CompactedError, messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { sleep } from '../../lib/index.ts';
import type { KeyValue, Store, WatchEvent } from '../../store/index.ts';

export interface PrefixViewHandlers {
  onReset(kvs: KeyValue[], revision: number): void;
  onEvents(events: WatchEvent[]): void;
}

export async function watchPrefix(
  store: Store,
  prefix: string,
  handlers: PrefixViewHandlers,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  while (!signal.aborted) {
    try {
      const { kvs, revision } = await store.range(prefix);
      handlers.onReset(kvs, revision);
      for await (const batch of store.watch(prefix, { fromRevision: revision + 1, signal })) {
        handlers.onEvents(batch);
      }
    } catch (e) {
      if (signal.aborted) break;
      logger.warn(
        { err: messageOf(e), prefix, compacted: e instanceof CompactedError },
        'watch ended; re-listing',
      );
      await sleep(200, signal);
    }
  }
}

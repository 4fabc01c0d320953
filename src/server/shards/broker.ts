/**
 * Broker duties: host-wide housekeeping that exactly one replica does, the owner of `/shards/broker`.
 * For now that is trimming the event, audit and remediation logs; every write carries the broker shard's fence.
 */
import { isStorageError, messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';
import { sleep } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { BROKER } from './keys.ts';
import type { Replica, ShardFence } from './replica.ts';

/** Deletes per transaction (etcd refuses more than 128 operations in one). */
const CHUNK = 100;

/**
 * Deletes the oldest events beyond `keep`, in transactions fenced on the broker shard. Returns how
 * many were deleted; stops (without error) at the first refused transaction: the shard moved.
 */
export async function trimEvents(
  store: Store,
  fence: ShardFence,
  keep: number,
  prefix: string = keys.eventsPrefix,
): Promise<number> {
  const { kvs } = await store.range(prefix);
  const old = kvs.slice(0, Math.max(0, kvs.length - keep));
  let deleted = 0;
  for (let i = 0; i < old.length; i += CHUNK) {
    const r = await store.txn({
      compare: fence.compares,
      success: old.slice(i, i + CHUNK).map((kv) => ({ type: 'delete', key: kv.key }) as const),
    });
    if (!r.succeeded) break;
    deleted += Math.min(CHUNK, old.length - i);
  }
  return deleted;
}

export interface BrokerDutiesOptions {
  store: Store;
  replica: Replica;
  logger: Logger;
  /** Events kept (default 5,000). */
  keepEvents: number;
  /** Audit records kept (the oldest beyond are deleted like events). */
  keepAudit?: number;
  /** Remediation records kept (default 10,000). */
  keepRemediation?: number;
  /** How often the duties run while this replica owns the broker shard (ms). */
  intervalMs: number;
}

/** Runs the broker duties whenever this replica owns the broker shard, until the signal aborts. */
export async function runBrokerDuties(o: BrokerDutiesOptions, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sleep(o.intervalMs, signal);
    if (signal.aborted) break;
    const fence = o.replica.fenceForShard(BROKER);
    if (fence === undefined) continue;
    try {
      const n = await trimEvents(o.store, fence, o.keepEvents);
      if (n > 0) o.logger.debug({ deleted: n }, 'events trimmed');
      if (o.keepAudit !== undefined) {
        const a = await trimEvents(o.store, fence, o.keepAudit, keys.auditPrefix);
        if (a > 0) o.logger.debug({ deleted: a }, 'audit records trimmed');
      }
      const rem = await trimEvents(o.store, fence, o.keepRemediation ?? 10_000, keys.remediationLogPrefix);
      if (rem > 0) o.logger.debug({ deleted: rem }, 'remediation records trimmed');
    } catch (e) {
      if (!signal.aborted && !isStorageError(e)) o.logger.warn({ err: messageOf(e) }, 'event trim failed');
    }
  }
}

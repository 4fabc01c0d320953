/**
 * The audit log under /audit/: one record per write request (who, what, when, from where, outcome),
 * in time order, trimmed to a bound by the broker duties like the event log. Reads are not recorded;
 * nor are the high-volume writes of agents (heartbeats, task status): for a host principal only
 * registration and join are.
 */
import type { Clock, Logger } from '../../lib/index.ts';
import { shortId } from '../../lib/index.ts';
import { messageOf } from '../../errors/index.ts';
import { keys, type AuditRecord } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { Principal } from '../principal.ts';
import { principalName } from '../principal.ts';

export type { AuditRecord } from '../../model/index.ts';

/** Routes a host principal's writes are recorded for (the rest of an agent's writes are routine). */
const HOST_AUDITED = new Set(['POST /v1/hosts', 'POST /v1/hosts/join']);

/**
 * POSTs that change nothing stored (a dry run; a config tree member's heartbeat, which only says it
 * is alive): not writes.
 */
const READ_ONLY = new Set([
  'POST /v1/jobs/:name/plan',
  'POST /v1/configdist/shards/:shard/hosts/:id/heartbeat',
]);

export function shouldAudit(method: string, route: string, p: Principal): boolean {
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return false;
  if (READ_ONLY.has(route)) return false;
  if (p.kind === 'host') return HOST_AUDITED.has(route);
  return true;
}

export class AuditLog {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #logger: Logger;

  constructor(store: Store, clock: Clock, logger: Logger) {
    this.#store = store;
    this.#clock = clock;
    this.#logger = logger;
  }

  /** Records a finished request; never throws (a failure is logged). */
  async record(p: Principal, r: Omit<AuditRecord, 'at' | 'who' | 'kind'>): Promise<void> {
    const at = this.#clock.now();
    const rec: AuditRecord = { at, who: principalName(p), kind: p.kind, ...r };
    try {
      await this.#store.put(keys.audit(at, shortId(6)), JSON.stringify(rec));
    } catch (e) {
      this.#logger.warn({ err: messageOf(e), audit: rec }, 'audit record not stored');
    }
  }

  /** Records at or after `since` (epoch ms), oldest first, at most `limit` (the newest ones). */
  async list(since: number, limit = 1000): Promise<AuditRecord[]> {
    const { kvs } = await this.#store.range(keys.auditPrefix);
    const from = keys.audit(since, '');
    const out: AuditRecord[] = [];
    for (const kv of kvs) {
      if (kv.key < from) continue;
      try {
        out.push(JSON.parse(kv.value) as AuditRecord);
      } catch {
        // an unreadable record is skipped
      }
    }
    return out.slice(-limit);
  }
}

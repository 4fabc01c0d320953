/**
 * Host conditions the agents report with their heartbeats (DiskFull, DiskPressure, DiskReadOnly):
 * written into the host record only when they changed, so a steady heartbeat writes nothing more
 * than its lease renewal.
 */
import type { HostCondition, HostRecord } from '../../model/index.ts';
import { keys } from '../../model/index.ts';
import type { JsonEntry, Store } from '../../store/index.ts';

function same(a: HostCondition[] | undefined, b: HostCondition[]): boolean {
  const x = a ?? [];
  return x.length === b.length && x.every((c, i) => c.type === b[i]?.type && c.message === b[i]?.message);
}

/**
 * Stores the host's conditions if they differ from the record's. A record changed meanwhile (a
 * registration, a cordon) is left alone: the next heartbeat tries again.
 */
export async function recordConditions(
  store: Store,
  host: JsonEntry<HostRecord>,
  conditions: HostCondition[],
): Promise<void> {
  if (same(host.value.conditions, conditions)) return;
  const next: HostRecord = { ...host.value };
  if (conditions.length > 0) next.conditions = conditions;
  else delete next.conditions;
  await store.txn({
    compare: [{ key: keys.host(host.value.id), target: 'mod', op: '=', modRevision: host.kv.modRevision }],
    success: [{ type: 'put', key: keys.host(host.value.id), value: JSON.stringify(next) }],
  });
}

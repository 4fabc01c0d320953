import { ConflictError, LeaseNotFoundError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type { HostRecord, RegisterHostRequest, RegisterHostResult } from '../../model/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { getJson } from './json.ts';

export interface HostLiveness {
  /** Seconds without a heartbeat before a host counts as down. */
  ttlSeconds: number;
}

/**
 * Registers (or re-registers) a host: a fresh lease keeps /alive/ID; the administrative state of a
 * known host (cordoned, draining) is kept.
 */
export async function registerHost(
  store: Store,
  req: RegisterHostRequest,
  liveness: HostLiveness,
  clock: Clock,
): Promise<RegisterHostResult> {
  const lease = await store.grantLease(liveness.ttlSeconds);
  const existing = await getJson<HostRecord>(store, keys.host(req.id));
  const record: HostRecord = {
    id: req.id,
    labels: req.labels,
    capacity: req.capacity,
    schedulable: existing?.value.schedulable ?? 'ready',
    runtime: req.runtime,
    registeredAt: clock.now(),
    lease: lease.id,
  };
  if (req.agentUrl !== undefined) record.agentUrl = req.agentUrl;
  await store.txn({
    compare: [],
    success: [
      { type: 'put', key: keys.host(req.id), value: JSON.stringify(record) },
      {
        type: 'put',
        key: keys.alive(req.id),
        value: JSON.stringify({ since: clock.now() }),
        lease: lease.id,
      },
    ],
  });
  if (existing && existing.value.lease !== lease.id)
    await store.revokeLease(existing.value.lease).catch(() => {});
  return {
    lease: lease.id,
    ttlSeconds: liveness.ttlSeconds,
    heartbeatMs: Math.max(200, Math.floor((liveness.ttlSeconds * 1000) / 3)),
  };
}

/** Renews a host's lease; a lease that is gone (or not the host's) answers 404 so the agent re-registers. */
export async function heartbeat(store: Store, hostId: string, lease: number): Promise<void> {
  const host = await getJson<HostRecord>(store, keys.host(hostId));
  if (!host) throw new NotFoundError('host', hostId);
  if (host.value.lease !== lease) throw new LeaseNotFoundError(lease);
  await store.keepAlive(lease);
}

/**
 * Sets a host's administrative state: cordoned (no new tasks), draining (tasks move off under each
 * job's budget; at `drainDeadline` the rest are stopped), or ready again.
 */
export async function setHostSchedulable(
  store: Store,
  hostId: string,
  schedulable: HostRecord['schedulable'],
  drainDeadline?: number,
): Promise<{
  host: string;
  schedulable: HostRecord['schedulable'];
  changed: boolean;
  drainDeadline?: number;
}> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const host = await getJson<HostRecord>(store, keys.host(hostId));
    if (!host) throw new NotFoundError('host', hostId);
    const next: HostRecord = { ...host.value, schedulable };
    delete next.drainDeadline;
    if (schedulable === 'draining' && drainDeadline !== undefined) next.drainDeadline = drainDeadline;
    const result = {
      host: hostId,
      schedulable,
      ...(next.drainDeadline === undefined ? {} : { drainDeadline: next.drainDeadline }),
    };
    if (host.value.schedulable === schedulable && host.value.drainDeadline === next.drainDeadline) {
      return { ...result, changed: false };
    }
    const r = await store.txn({
      compare: [{ key: keys.host(hostId), target: 'mod', op: '=', modRevision: host.kv.modRevision }],
      success: [{ type: 'put', key: keys.host(hostId), value: JSON.stringify(next) }],
    });
    if (r.succeeded) return { ...result, changed: true };
  }
  throw new ConflictError(`host "${hostId}" is being changed by someone else; try again`);
}

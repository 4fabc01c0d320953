import { ConflictError, DabbaError, LeaseNotFoundError, NotFoundError } from '../../errors/index.ts';
import type { Clock } from '../../lib/index.ts';
import type {
  HostMaintenance,
  HostCondition,
  HostRecord,
  RegisterHostRequest,
  RegisterHostResult,
} from '../../model/index.ts';
import { recordConditions } from './host-conditions.ts';
import { keys } from '../../model/index.ts';
import type { Compare, Store, TxnOp } from '../../store/index.ts';
import { getJson } from './json.ts';
import { lowestFreeRange, parseTaskNetwork, rangeCount, type TaskNetwork } from '../../model/index.ts';

export interface HostLiveness {
  /** Seconds without a heartbeat before a host counts as down. */
  ttlSeconds: number;
}

/** Attempts at the registration txn when others write the same keys at the same time. */
const REGISTER_ATTEMPTS = 100;

/**
 * Registers (or re-registers) a host: a fresh lease keeps /alive/ID; the administrative state of a
 * known host (cordoned, draining, with its drain deadline) is kept.
 *
 * With `wantSubnet` the host gets its range of the task network: the one it already holds (a
 * re-registration, an agent restart), else the lowest range no other host holds. The range's key
 * (keys.subnet) is created in the same txn as the host record, on the condition that it does not
 * exist and that the host record has not changed since it was read, so two registrations can
 * never get the same range and a host never ends up holding two. A network with no range left is
 * DABBA_E_NETWORK_FULL.
 */
export async function registerHost(
  store: Store,
  req: RegisterHostRequest,
  liveness: HostLiveness,
  clock: Clock,
  network: TaskNetwork = parseTaskNetwork(),
): Promise<RegisterHostResult> {
  const lease = await store.grantLease(liveness.ttlSeconds);
  /** Ranges this call picked and lost to another host's registration: not tried again. */
  const lost = new Set<string>();
  try {
    for (let attempt = 0; attempt < REGISTER_ATTEMPTS; attempt++) {
      const existing = await getJson<HostRecord>(store, keys.host(req.id));
      const schedulable = existing?.value.schedulable ?? 'ready';
      const record: HostRecord = {
        id: req.id,
        labels: req.labels,
        capacity: req.capacity,
        schedulable,
        runtime: req.runtime,
        registeredAt: clock.now(),
        lease: lease.id,
      };
      if (req.agentUrl !== undefined) record.agentUrl = req.agentUrl;
      if (req.seccomp !== undefined) record.seccomp = req.seccomp;
      if (req.volumes !== undefined) record.volumes = req.volumes;
      const deadline = existing?.value.drainDeadline;
      if (schedulable === 'draining' && deadline !== undefined) record.drainDeadline = deadline;
      const maintenance = existing?.value.maintenance;
      if (schedulable === 'maintenance' && maintenance !== undefined) record.maintenance = maintenance;
      const compare: Compare[] = [
        { key: keys.host(req.id), target: 'mod', op: '=', modRevision: existing?.kv.modRevision ?? 0 },
      ];
      const ops: TxnOp[] = [];
      // A range, once given, stays with the host (also while it registers without asking).
      let subnet = existing?.value.subnet;
      if (req.wantSubnet === true) {
        const held = subnet === undefined ? undefined : await store.get(keys.subnet(subnet));
        if (subnet === undefined) subnet = await freeRange(store, network, req.id, lost);
        if (held === undefined) {
          compare.push({ key: keys.subnet(subnet), target: 'create', op: '=', createRevision: 0 });
          ops.push({ type: 'put', key: keys.subnet(subnet), value: JSON.stringify({ host: req.id }) });
        }
      }
      if (subnet !== undefined) record.subnet = subnet;
      const r = await store.txn({
        compare,
        success: [
          { type: 'put', key: keys.host(req.id), value: JSON.stringify(record) },
          {
            type: 'put',
            key: keys.alive(req.id),
            value: JSON.stringify({ since: clock.now() }),
            lease: lease.id,
          },
          ...ops,
        ],
      });
      if (!r.succeeded) {
        // Either the host record changed meanwhile, or another host took the range picked: the
        // next attempt reads again, and picks another range in the second case.
        if (subnet !== undefined && existing?.value.subnet === undefined) lost.add(subnet);
        continue;
      }
      if (existing && existing.value.lease !== lease.id)
        await store.revokeLease(existing.value.lease).catch(() => {});
      return {
        lease: lease.id,
        ttlSeconds: liveness.ttlSeconds,
        heartbeatMs: Math.max(200, Math.floor((liveness.ttlSeconds * 1000) / 3)),
        ...(req.wantSubnet === true && subnet !== undefined ? { subnet, taskNetwork: network.cidr } : {}),
      };
    }
    throw new ConflictError(
      `host "${req.id}" could not register: its record or the task ranges changed under each of ${REGISTER_ATTEMPTS} attempts; try again`,
    );
  } catch (e) {
    await store.revokeLease(lease.id).catch(() => {});
    throw e;
  }
}

/**
 * The lowest range of the task network that no host holds (each held range has its key, written
 * with the host record) and that is not in `lost`, or DABBA_E_NETWORK_FULL.
 */
async function freeRange(
  store: Store,
  network: TaskNetwork,
  hostId: string,
  lost: ReadonlySet<string>,
): Promise<string> {
  const held = await store.range(keys.subnetsPrefix);
  const taken = new Set(lost);
  for (const kv of held.kvs) taken.add(kv.key.slice(keys.subnetsPrefix.length).replace('-', '/'));
  const free = lowestFreeRange(network, taken);
  if (free !== undefined) return free;
  const count = rangeCount(network);
  throw new DabbaError(
    'DABBA_E_NETWORK_FULL',
    `the task network ${network.cidr} has no free /${network.hostPrefix} left for host "${hostId}" ` +
      `(${count} range${count === 1 ? '' : 's'}, all held by other hosts): widen it with ` +
      `dabba server --task-network, or give hosts smaller ranges with --host-subnet-size`,
    {
      details: { host: hostId, taskNetwork: network.cidr, hostSubnetSize: network.hostPrefix, ranges: count },
    },
  );
}

/** Renews a host's lease; a lease that is gone (or not the host's) answers 404 so the agent re-registers. */
export async function heartbeat(
  store: Store,
  hostId: string,
  lease: number,
  conditions?: HostCondition[],
): Promise<void> {
  const host = await getJson<HostRecord>(store, keys.host(hostId));
  if (!host) throw new NotFoundError('host', hostId);
  if (host.value.lease !== lease) throw new LeaseNotFoundError(lease);
  await store.keepAlive(lease);
  if (conditions !== undefined) await recordConditions(store, host, conditions);
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
    delete next.maintenance;
    if (schedulable === 'draining' && drainDeadline !== undefined) next.drainDeadline = drainDeadline;
    const result = {
      host: hostId,
      schedulable,
      ...(next.drainDeadline === undefined ? {} : { drainDeadline: next.drainDeadline }),
    };
    if (
      host.value.schedulable === schedulable &&
      host.value.drainDeadline === next.drainDeadline &&
      host.value.maintenance === undefined
    ) {
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

/**
 * Puts hosts in maintenance (`maintenance`: its window and reason), all or none: an unknown host
 * changes nothing. Returns whether each changed.
 */
export async function setHostMaintenance(
  store: Store,
  hostIds: readonly string[],
  maintenance: HostMaintenance,
): Promise<{ host: string; changed: boolean }[]> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const compare: Compare[] = [];
    const ops: TxnOp[] = [];
    const out: { host: string; changed: boolean }[] = [];
    for (const id of hostIds) {
      const host = await getJson<HostRecord>(store, keys.host(id));
      if (!host) throw new NotFoundError('host', id);
      const next: HostRecord = { ...host.value, schedulable: 'maintenance', maintenance };
      delete next.drainDeadline;
      const changed = JSON.stringify(next) !== JSON.stringify(host.value);
      out.push({ host: id, changed });
      compare.push({ key: keys.host(id), target: 'mod', op: '=', modRevision: host.kv.modRevision });
      if (changed) ops.push({ type: 'put', key: keys.host(id), value: JSON.stringify(next) });
    }
    if (ops.length === 0) return out;
    const r = await store.txn({ compare, success: ops });
    if (r.succeeded) return out;
  }
  throw new ConflictError('the hosts are being changed by someone else; try again');
}

/**
 * Where preemption state lives in the store, so that it is the cluster's and not one replica's
 * memory (docs/batch.md): the batch tasks marked to stop (/preemptions/victims/JOB/TASK: who marked
 * them and why) and the room reserved for a service until its tasks are placed
 * (/preemptions/reserved/JOB: per host, until when). Every replica reads them each scheduler tick;
 * the replica owning a victim's job stops it, whoever takes over a shard finds what its previous
 * owner decided. Writes carry the writer's fence (the service's shard, or the broker's for a recall).
 */
import type { Logger } from '../lib/index.ts';
import { messageOf } from '../errors/index.ts';
import { keys, type ResourceSpec } from '../model/index.ts';
import type { Compare, Store, TxnOp } from '../store/index.ts';

/** A batch task marked to stop for a service or a recalled loan. */
export interface VictimMark {
  job: string;
  task: string;
  why: string;
  at: number;
}

/** The room a service's victims free, reserved for it until `until` (ms). */
export interface StoredReservation {
  job: string;
  until: number;
  hosts: Record<string, ResourceSpec>;
}

export interface StoredPreemptions {
  victims: { mark: VictimMark; mod: number }[];
  reserved: { reservation: StoredReservation; mod: number }[];
}

export async function readPreemptions(store: Store): Promise<StoredPreemptions> {
  const [v, r] = await Promise.all([
    store.range(keys.preemptionVictimsPrefix),
    store.range(keys.preemptionReservedPrefix),
  ]);
  return {
    victims: v.kvs.map((kv) => ({ mark: JSON.parse(kv.value) as VictimMark, mod: kv.modRevision })),
    reserved: r.kvs.map((kv) => ({
      reservation: JSON.parse(kv.value) as StoredReservation,
      mod: kv.modRevision,
    })),
  };
}

export function putVictim(m: VictimMark): TxnOp {
  return { type: 'put', key: keys.preemptionVictim(m.job, m.task), value: JSON.stringify(m) };
}

export function putReservation(r: StoredReservation): TxnOp {
  return { type: 'put', key: keys.preemptionReserved(r.job), value: JSON.stringify(r) };
}

/** Writes `ops` under the writer's fence; a failure is logged (the next tick reads and decides again). */
export async function writeFenced(
  store: Store,
  compares: Compare[],
  ops: TxnOp[],
  logger: Logger,
): Promise<boolean> {
  if (ops.length === 0) return true;
  try {
    const r = await store.txn({ compare: compares, success: ops });
    if (!r.succeeded) logger.debug({ ops: ops.length }, 'preemption state not written: the fence moved');
    return r.succeeded;
  } catch (e) {
    logger.warn({ err: messageOf(e) }, 'preemption state not written; decided again next tick');
    return false;
  }
}

/** Shards of the control plane: replica membership, shard ownership and fencing, broker duties. */
export {
  BROKER,
  haKeys,
  REPLICA_ID_PATTERN,
  shardIdOfKey,
  serverIdOfKey,
  type ServerRecord,
  type ShardId,
  type ShardRecord,
} from './keys.ts';
export { shardOf } from './hash.ts';
export { quotas } from './fair-share.ts';
export { Membership, type HeldLease, type RegisteredServer } from './membership.ts';
export {
  Replica,
  type OwnershipChange,
  type ReplicaInfo,
  type ReplicaOptions,
  type ShardFence,
} from './replica.ts';
export { runBrokerDuties, trimEvents } from './broker.ts';
export { defaultReplicaId } from './replica-id.ts';

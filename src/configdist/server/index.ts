/** The server side of config distribution: the versioned config store and the distributor (docs/config.md). */
export { ConfigStore, INLINE_MAX_BYTES, checkConfigPath, type PutConfigInput } from './config-store.ts';
export { checkConfigContent, parseConfig } from './content-check.ts';
export {
  DEFAULT_FANOUT,
  DEFAULT_HEARTBEAT_MS,
  Distributor,
  type DistMember,
  type DistributorOptions,
} from './distributor.ts';
export { ShardTree, type TreeMember } from './shard-tree.ts';

/** The host side of config distribution: what the agent runs for its tasks (docs/config.md). */
export {
  HostConfigs,
  bindsFor,
  writeAtomic,
  type PreparedConfigs,
  type HostConfigsOptions,
  type TaskNotifier,
} from './host-configs.ts';
export { Distribution, type DistributionOptions } from './distribution.ts';
export { servePeer } from './peer-endpoint.ts';

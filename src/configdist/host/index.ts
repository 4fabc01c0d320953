/** The host side of config distribution: what the agent runs for its tasks (docs/config.md). */
export { HostConfigs, writeAtomic, type HostConfigsOptions, type TaskNotifier } from './host-configs.ts';

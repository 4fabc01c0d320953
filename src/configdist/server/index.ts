/** The server side of config distribution: the versioned config store (docs/config.md). */
export { ConfigStore, INLINE_MAX_BYTES, checkConfigPath, type PutConfigInput } from './config-store.ts';
export { checkConfigContent, parseConfig } from './content-check.ts';

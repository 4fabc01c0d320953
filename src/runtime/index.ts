export type * from './runtime.ts';
export { portEnv, portEnvName } from './port-env.ts';

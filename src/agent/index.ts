export { startAgent } from './agent.ts';
export type { AgentOptions, RunningAgent } from './agent.ts';
export { detectCapacity } from './capacity.ts';
export {
  CA_FILE,
  HOST_CERT_FILE,
  HOST_KEY_FILE,
  hostCsr,
  hostKey,
  loadHostCredentials,
  needsRenewal,
  saveHostCertificate,
  type HostCredentials,
} from './host-credentials.ts';

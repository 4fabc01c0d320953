export { startAgent } from './agent.ts';
export type { AgentOptions, RunningAgent } from './agent.ts';
export { detectCapacity } from './capacity.ts';

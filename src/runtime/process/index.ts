export { ProcessRuntime, type ProcessRuntimeOptions } from './process-runtime.ts';
export { DEFAULT_PORT_RANGE, type PortRange } from './port-allocator.ts';

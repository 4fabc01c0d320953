export { OciRuntime, exitStatusFrom, type OciRuntimeOptions } from './oci-runtime.ts';
export { detectOci, type OciDetection } from './detect.ts';
export { BridgeNetwork, listLinks, listNetns } from './network.ts';
export { parseSubnet } from './ipam.ts';
export { detectCgroups, cgroupPathsOf, memoryLimit, type CgroupPaths, type CgroupLayout } from './cgroups.ts';
export { defaultSeccompProfile } from './seccomp.ts';
export { DEFAULT_CAPABILITIES, buildSpec } from './spec.ts';
export { parseCriLine, LineAssembler } from './cri-log.ts';

/** The testbed: a dabba fleet on one machine (network namespaces on a bridge). See docs/testbed.md. */
export { MAX_HOSTS, SLOT_COUNT, SUPERNET, hostPlan, slotPlan } from './address-plan.ts';
export type { HostPlan, SlotPlan } from './address-plan.ts';
export { JobWatcher, serving } from './job-watch.ts';
export type { Snapshot, Target } from './job-watch.ts';
export { Load, formatReport, report } from './load.ts';
export type { LoadOptions, LoadReport, RequestRecord } from './load.ts';
export { readSlot, REGISTRY_DIR } from './registry.ts';
export { claimSlot, reclaim, staleSlots } from './slots.ts';
export { readState } from './state.ts';
export type { TestbedState } from './state.ts';
export { listLinks, listNetns } from './system.ts';
export type { RunResult } from './system.ts';
export { teardownSlot } from './teardown.ts';
export type { TeardownReport } from './teardown.ts';
export { REPO, Testbed, netnsUnavailable, startTestbed } from './testbed.ts';
export type { CliOptions, TestbedHost, TestbedOptions } from './testbed.ts';
export { HELLO_DIR, helloJob } from './jobs.ts';
export type { HelloJobOptions } from './jobs.ts';

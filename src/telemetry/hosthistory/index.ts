/** Host history (atop style): the agent's recorder of host and process snapshots, and its query. */
export { HostHistoryRecorder, HOST_HISTORY_DEFAULTS, type HostHistoryOptions } from './recorder.ts';
export type { TaskRef } from './sampler.ts';
export { encodeBlock, decodeBlock } from './block-codec.ts';
export { HistoryFiles, hourFileName } from './history-files.ts';
export { ProcReader } from './proc-reader.ts';
export type { Sample, ProcessSample, HostSample } from './sample.ts';

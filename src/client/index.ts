export * from './client.ts';
export type { SseMessage } from './sse.ts';
export type { BoardApi } from './boards.ts';
export { certificatePin, type ClientTls } from './tls.ts';
export { PIN_PATTERN, fetchPinnedCa } from './ca-discovery.ts';
export type { ConfigDistApi, ConfigReport, MetaEvent, TreeEvent } from './configdist.ts';
export type { ConfigApi } from './configs.ts';

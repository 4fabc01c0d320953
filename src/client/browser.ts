/**
 * The client's face for the web UI: the same DabbaClient and types, without the node-only helpers
 * (CA discovery, certificate pins). The UI's build swaps tls.ts and exec-upgrade.ts for their
 * *.browser.ts variants (scripts/build-ui.ts).
 */
export * from './client.ts';
export type { SseMessage } from './sse.ts';
export type { BoardApi } from './boards.ts';

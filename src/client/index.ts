export * from './client.ts';
export type { SseMessage } from './sse.ts';

/** The host side of telemetry: what the agent runs to collect counters and ship them. */
export * from './wire.ts';
export * from './exposition-parse.ts';
export * from './host-stats.ts';
export * from './scrape.ts';
export * from './spool.ts';
export * from './shipper.ts';
export * from './collector.ts';

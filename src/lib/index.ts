export * from './abort.ts';
export * from './backoff.ts';
export * from './clock.ts';
export * from './durations.ts';
export * from './ids.ts';
export * from './ipv4.ts';
export * from './logger.ts';
export * from './sizes.ts';

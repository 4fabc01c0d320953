export * from './deployment.ts';
export * from './event.ts';
export * from './host.ts';
export * from './job.ts';
export * from './keys.ts';
export * from './task.ts';

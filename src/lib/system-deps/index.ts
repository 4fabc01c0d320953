export * from './apt.ts';
export * from './packages.ts';
export * from './probe.ts';
export * from './report.ts';

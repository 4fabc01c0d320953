export * from './codes.ts';
export * from './dabba-error.ts';
export * from './storage.ts';

/**
 * The store: revisioned key-value state with watch, transactions and leases (ARCHITECTURE.md
 * section 4). Callers depend on the Store interface; only bin/ picks an implementation.
 */
export type * from './store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/index.ts';
export { EtcdStore, type EtcdStoreOptions } from './etcd/index.ts';
export { storeConformance, type StoreConformanceOptions, type StoreFactory } from './conformance.ts';
export { getJson, putJson, type JsonEntry } from './json.ts';

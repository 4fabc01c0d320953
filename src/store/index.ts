/**
 * The store: revisioned key-value state with watch, transactions and leases (ARCHITECTURE.md
 * section 4). Callers depend on the Store interface; only bin/ picks an implementation.
 *
 * The etcd store has its own face, `etcd/index.ts`: it brings gRPC and protobuf, loaded only by a
 * daemon started with `--store etcd://...`. The conformance suite, for tests, is `conformance.ts`.
 */
export type * from './store.ts';
export { SqliteStore, type SqliteStoreOptions } from './sqlite/index.ts';
export { getJson, putJson, type JsonEntry } from './json.ts';

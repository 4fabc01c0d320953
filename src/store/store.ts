/**
 * The Store: revisioned key-value state with watch, transactions and leases, on etcd's model
 * (ARCHITECTURE.md section 4). Every other part of the control plane reads and writes state only
 * through this interface. Implementations: sqlite/ (embedded) and etcd/ (HA).
 *
 * Keys are strings; values are strings (callers store JSON). Every successful write bumps the one
 * global revision by exactly one, whatever it contains (a txn with many ops is one revision).
 */

export type LeaseId = number;

export interface KeyValue {
  key: string;
  value: string;
  /** Revision at which the key was (last) created. */
  createRevision: number;
  /** Revision of the last write to the key. */
  modRevision: number;
  /** Number of writes since the key was created (1 after create). */
  version: number;
  /** Lease the key is attached to, 0 when none. */
  lease: LeaseId;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Store revision at which the range was read. */
  revision: number;
}

export interface PutOptions {
  /** Attach the key to this lease: it is deleted when the lease expires or is revoked. */
  lease?: LeaseId;
}

export interface WriteResult {
  revision: number;
}

export type Compare =
  | { key: string; target: 'mod'; op: '=' | '<' | '>' | '!='; modRevision: number }
  | { key: string; target: 'create'; op: '=' | '<' | '>' | '!='; createRevision: number }
  | { key: string; target: 'value'; op: '=' | '!='; value: string };

export type TxnOp =
  | { type: 'put'; key: string; value: string; lease?: LeaseId }
  | { type: 'delete'; key: string }
  | { type: 'deletePrefix'; prefix: string }
  | { type: 'get'; key: string };

export interface TxnRequest {
  /** All must hold for `success` to run; otherwise `failure` runs. A missing key has mod/create revision 0. */
  compare: Compare[];
  success: TxnOp[];
  failure?: TxnOp[];
}

/** How a txn is to be committed (a hint: a store that does not tell writes apart ignores it). */
export interface TxnOptions {
  /**
   * Bulk work nobody waits on interactively (the scheduler's plans, thousands of task records). A
   * store may commit it after writes sent later that are not bulk, and spread bulk writes over
   * several commits, so that a deploy or a heartbeat does not wait behind them (the SQLite store
   * does; etcd ignores it). As for any writes in flight at once, a caller that needs an order
   * waits for the earlier answer; compares decide between writers, as always.
   */
  bulk?: boolean;
}

export interface TxnResult {
  succeeded: boolean;
  /** Store revision after the txn (unchanged if it wrote nothing). */
  revision: number;
  /** Results of `get` ops in the branch that ran, in order. */
  gets: (KeyValue | undefined)[];
}

export interface WatchEvent {
  type: 'put' | 'delete';
  /** For delete: key with modRevision = the delete's revision and empty value. */
  kv: KeyValue;
  prevKv?: KeyValue;
}

export interface WatchOptions {
  /**
   * First revision to deliver (inclusive). Omitted: only changes after the watch starts.
   * If older than the store's compaction point the watch throws CompactedError.
   */
  fromRevision?: number;
  /** Ends the watch: the iterator returns cleanly. */
  signal: AbortSignal;
}

export interface Lease {
  id: LeaseId;
  ttlSeconds: number;
}

export interface Store {
  /**
   * The most operations one txn may hold in each of compare, success and failure (etcd's
   * --max-txn-ops: 128 by default; the embedded store takes 10,000). A larger txn is refused with
   * DABBA_E_BAD_REQUEST and changes nothing: callers with more to write split it.
   */
  readonly maxTxnOps: number;
  get(key: string): Promise<KeyValue | undefined>;
  /** Every key starting with prefix, sorted by key. */
  range(prefix: string, options?: { limit?: number }): Promise<RangeResult>;
  put(key: string, value: string, options?: PutOptions): Promise<WriteResult>;
  /** Deletes a key; `deleted` is 0 when it did not exist (and the revision does not move). */
  delete(key: string): Promise<WriteResult & { deleted: number }>;
  deletePrefix(prefix: string): Promise<WriteResult & { deleted: number }>;
  txn(request: TxnRequest, options?: TxnOptions): Promise<TxnResult>;
  /**
   * Events for keys under prefix, in revision order, none lost, none repeated. Events from one
   * revision (a txn) arrive in one batch. Throws CompactedError if fromRevision is compacted.
   */
  watch(prefix: string, options: WatchOptions): AsyncIterable<WatchEvent[]>;
  /** Current store revision. */
  revision(): Promise<number>;
  /**
   * The newest committed revision, known without a round trip, for a store object that sees every
   * write (the only writer of its store: SQLite's single-owner file). Absent where other processes
   * write too (etcd). A cache fed by this object's watch that has applied this revision holds every
   * write acknowledged so far.
   */
  knownRevision?(): number;
  grantLease(ttlSeconds: number): Promise<Lease>;
  /** Renews a lease to its full TTL; throws LeaseNotFoundError if it has expired or been revoked. */
  keepAlive(id: LeaseId): Promise<Lease>;
  /** Revokes a lease and deletes its keys (one revision). Unknown leases are ignored. */
  revokeLease(id: LeaseId): Promise<void>;
  /** Forgets history up to (not including) revision; watches from older revisions get CompactedError. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}

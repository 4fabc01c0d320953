/** A Store txn in etcd's terms: its compares and operations, and the lease it writes with. */
import type { ICompare, IRequestOp } from 'etcd3';
import type { Compare, LeaseId, TxnOp, TxnRequest } from '../store.ts';
import type { Keyspace } from './keys.ts';

const COMPARE_OP = { '=': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

/** A Store compare as etcd's. */
export function compareToEtcd(keys: Keyspace, c: Compare): ICompare {
  const key = keys.key(c.key);
  const result = COMPARE_OP[c.op];
  switch (c.target) {
    case 'mod':
      return { key, target: 'Mod', result, mod_revision: c.modRevision };
    case 'create':
      return { key, target: 'Create', result, create_revision: c.createRevision };
    case 'value':
      return { key, target: 'Value', result, value: Buffer.from(c.value, 'utf8') };
  }
}

/** A Store txn operation as etcd's. */
export function opToEtcd(keys: Keyspace, op: TxnOp): IRequestOp {
  switch (op.type) {
    case 'put':
      return {
        request_put: {
          key: keys.key(op.key),
          value: Buffer.from(op.value, 'utf8'),
          lease: op.lease ?? 0,
        },
      };
    case 'delete':
      return { request_delete_range: { key: keys.key(op.key) } };
    case 'deletePrefix':
      return { request_delete_range: { ...keys.prefix(op.prefix) } };
    case 'get':
      return { request_range: { key: keys.key(op.key) } };
  }
}

export function firstLease(req: TxnRequest): LeaseId | undefined {
  for (const op of [...req.success, ...(req.failure ?? [])]) {
    if (op.type === 'put' && op.lease !== undefined && op.lease !== 0) return op.lease;
  }
  return undefined;
}

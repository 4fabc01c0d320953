/** etcd's definite answers (lease not found, NOSPACE, compacted, refused requests) as DabbaErrors. */
import {
  DabbaError,
  LeaseNotFoundError,
  StoreError,
  StorageFullError,
  isDabbaError,
} from '../../errors/index.ts';
import type { LeaseId } from '../store.ts';
import { etcdMessage } from './grpc-errors.ts';

/** etcd's definite answers as DabbaErrors. */
export function mapEtcdError(
  e: unknown,
  what: string,
  endpoints: readonly string[],
  lease?: LeaseId,
): DabbaError {
  if (isDabbaError(e)) return e;
  const msg = etcdMessage(e);
  const details = { etcd: msg, endpoints: endpoints };
  if (msg === 'requested lease not found') return new LeaseNotFoundError(lease ?? 'unknown');
  if (msg === 'mvcc: database space exceeded') {
    // etcd's NOSPACE alarm: writes refused until an operator compacts, defragments and disarms it.
    return new StorageFullError(
      `etcd refused the ${what}: its database is full (NOSPACE alarm; compact, defragment, then "etcdctl alarm disarm"); reads still work`,
      { where: `etcd ${endpoints.join(',')}`, reason: 'full' },
      { cause: e },
    );
  }
  if (msg === 'mvcc: required revision has been compacted') {
    return new StoreError(`etcd ${what}: ${msg}`, { cause: e, details });
  }
  if (
    /future revision|too many operations in txn|request is too large|duplicate key|key is not provided/.test(
      msg,
    )
  ) {
    return new DabbaError('DABBA_E_BAD_REQUEST', `etcd refused the ${what}: ${msg}`, { cause: e, details });
  }
  return new StoreError(`etcd ${what} failed: ${msg}`, { cause: e, details });
}

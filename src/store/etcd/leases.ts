/** Lease ids chosen here (random, below 2^53: a LeaseId is a number), and one keep-alive on etcd's stream. */
import { randomBytes } from 'node:crypto';
import type { ILeaseKeepAliveRequest, ILeaseKeepAliveResponse } from 'etcd3';
import type { LeaseId } from '../store.ts';
import type { Endpoint } from './connection.ts';
import { num } from './keys.ts';
import { StreamQueue } from './stream-queue.ts';

const MAX_LEASE_ID = 2n ** 53n - 1n;

/** A random lease id in 1..2^53-1. */
export function randomLeaseId(): number {
  for (;;) {
    const id = Number(randomBytes(8).readBigUInt64BE() & MAX_LEASE_ID);
    if (id > 0) return id;
  }
}

export /** One keep-alive on a LeaseKeepAlive stream: the TTL etcd answers (0 or less: no such lease). */
async function keepAliveOnce(ep: Endpoint, id: LeaseId, deadline: number): Promise<number> {
  const queue = new StreamQueue<ILeaseKeepAliveRequest, ILeaseKeepAliveResponse>(
    await ep.stream('Lease', 'leaseKeepAlive'),
  );
  try {
    queue.write({ ID: id });
    const item = await queue.next(AbortSignal.timeout(Math.max(1, deadline - Date.now())));
    switch (item.kind) {
      case 'data':
        return num(item.value.TTL);
      case 'error':
        throw item.error;
      case 'end':
        throw Object.assign(new Error('the keep-alive stream ended'), { code: 14, details: 'stream ended' });
      case 'aborted':
        throw Object.assign(new Error('keep-alive timed out'), { code: 4, details: 'keep-alive timed out' });
    }
  } finally {
    queue.close();
  }
}

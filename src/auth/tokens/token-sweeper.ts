/**
 * Deleting expired tokens. A token past its expiry no longer works (the authenticator checks it),
 * but its record would stay under /auth/tokens/ forever: every join token with a `--ttl`, every
 * replica's 24 h credential renewed under a new expiry by a replica that has since gone. Like
 * Kubernetes' token cleaner for bootstrap tokens, every replica sweeps now and then and deletes the
 * records expired more than `retainMs` ago (kept that long so `dabba token ls` still shows a token
 * that just expired). Each delete compares the record's revision, so a token re-created under the
 * same name in between is left alone, and replicas sweeping at once delete each record once.
 */
import { messageOf } from '../../errors/index.ts';
import type { Clock, Logger } from '../../lib/index.ts';
import { sleep } from '../../lib/index.ts';
import { keys } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import type { TokenRecord } from './token-record.ts';

/** How long an expired token's record stays listed before it is deleted. */
export const EXPIRED_TOKEN_RETAIN_MS = 24 * 3600_000;
/** How often each replica sweeps. */
export const TOKEN_SWEEP_INTERVAL_MS = 10 * 60_000;

function expiresAt(value: string): number | undefined {
  try {
    const r = JSON.parse(value) as Partial<TokenRecord>;
    return typeof r.expiresAt === 'number' ? r.expiresAt : undefined;
  } catch {
    return undefined;
  }
}

/** Deletes the records expired before `now - retainMs`; returns the names deleted. */
export async function sweepExpiredTokens(
  store: Store,
  now: number,
  retainMs = EXPIRED_TOKEN_RETAIN_MS,
): Promise<string[]> {
  const { kvs } = await store.range(keys.tokensPrefix);
  const deleted: string[] = [];
  for (const kv of kvs) {
    const at = expiresAt(kv.value);
    if (at === undefined || at + retainMs > now) continue;
    const r = await store.txn({
      compare: [{ key: kv.key, target: 'mod', op: '=', modRevision: kv.modRevision }],
      success: [{ type: 'delete', key: kv.key }],
    });
    if (r.succeeded) deleted.push(kv.key.slice(keys.tokensPrefix.length));
  }
  return deleted;
}

export interface TokenSweeperOptions {
  store: Store;
  clock: Clock;
  logger: Logger;
  intervalMs?: number;
  retainMs?: number;
}

/** Sweeps once at start and then every interval until the signal aborts; failures are logged. */
export async function runTokenSweeper(o: TokenSweeperOptions, signal: AbortSignal): Promise<void> {
  const interval = o.intervalMs ?? TOKEN_SWEEP_INTERVAL_MS;
  while (!signal.aborted) {
    try {
      const names = await sweepExpiredTokens(o.store, o.clock.now(), o.retainMs);
      if (names.length > 0) o.logger.info({ tokens: names }, 'expired tokens deleted');
    } catch (e) {
      if (signal.aborted) break;
      o.logger.warn({ err: messageOf(e) }, 'expired token sweep failed; trying again later');
    }
    await sleep(interval, signal);
  }
}

/**
 * Ships the spool's batches to the server, oldest first, one at a time: a batch is deleted only
 * once the server has acknowledged its seq. Failures (server down, network, 5xx, a lost
 * credential) are retried with capped exponential backoff, in order, so nothing is skipped; a
 * batch the server refuses as invalid (a 4xx other than 401/403/404/405/408/429) is dropped and counted,
 * since sending it again cannot succeed and would hold up every batch behind it.
 */
import { DabbaError, messageOf } from '../../errors/index.ts';
import { backoffDelay, sleep, type Logger } from '../../lib/index.ts';
import type { Spool } from './spool.ts';
import type { IngestAck, WireBatch } from './wire.ts';

export interface ShipperOptions {
  spool: Spool;
  send: (batch: WireBatch) => Promise<IngestAck>;
  logger: Logger;
  signal: AbortSignal;
  /** Backoff between failed attempts (default 500 ms doubling to 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface ShipperStats {
  shipped: number;
  rejected: number;
  failures: number;
}

// 404/405: a server without the ingest route yet (older, mid-upgrade): keep the batches for it.
const RETRYABLE_4XX = new Set([401, 403, 404, 405, 408, 425, 429]);

/** Whether a failed send should be retried (anything but a refusal of the batch itself). */
export function retryable(e: unknown): boolean {
  if (!(e instanceof DabbaError)) return true;
  const status = e.httpStatus;
  return status >= 500 || status < 400 || RETRYABLE_4XX.has(status);
}

export class Shipper {
  readonly stats: ShipperStats = { shipped: 0, rejected: 0, failures: 0 };
  readonly #o: ShipperOptions;

  constructor(o: ShipperOptions) {
    this.#o = o;
  }

  async run(): Promise<void> {
    const { spool, signal, logger } = this.#o;
    let attempt = 0;
    while (!signal.aborted) {
      const batch = await spool.oldest();
      if (batch === undefined) {
        await spool.appended(signal);
        continue;
      }
      try {
        const ack = await this.#o.send(batch);
        if (ack.seq !== batch.seq)
          logger.warn({ sent: batch.seq, acked: ack.seq }, 'ingest acknowledged another seq');
        await spool.ack(batch.seq);
        this.stats.shipped++;
        if (attempt > 0) logger.info({ seq: batch.seq, attempts: attempt + 1 }, 'metrics shipping resumed');
        attempt = 0;
      } catch (e) {
        if (signal.aborted) return;
        if (!retryable(e)) {
          logger.error({ err: messageOf(e), seq: batch.seq }, 'the server refused a metrics batch; dropped');
          await spool.ack(batch.seq);
          // Counted once dropped, as `shipped` is once acknowledged: the stats never run ahead of the spool.
          this.stats.rejected++;
          continue;
        }
        this.stats.failures++;
        const delay = backoffDelay(
          attempt++,
          { initialMs: this.#o.initialBackoffMs ?? 500, maxMs: this.#o.maxBackoffMs ?? 30_000, jitter: 0.2 },
          Math.random,
        );
        const level = attempt === 1 || attempt % 20 === 0 ? 'warn' : 'debug';
        logger[level](
          { err: messageOf(e), seq: batch.seq, attempt, retryInMs: delay, spooled: spool.stats().batches },
          'metrics shipping failed; retrying',
        );
        await sleep(delay, signal);
      }
    }
  }
}

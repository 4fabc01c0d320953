/**
 * The control plane's time series: one store under the server's data dir (`DATA_DIR/tsdb`), the
 * ingest of agents' batches, the copies of other replicas' points (`DATA_DIR/tsdb-copies/`,
 * copy-stores.ts), and the stores' own loops (flush every second, cut windows and roll up every
 * minute) until the signal aborts.
 */
import type { Clock, Logger } from '../../lib/index.ts';
import { systemClock } from '../../lib/index.ts';
import { DabbaError } from '../../errors/index.ts';
import type { IngestBatch, IngestResult } from '../../model/index.ts';
import { TimeSeriesStore, type TsdbOptions } from '../tsdb/index.ts';
import { CopyStores } from './copy-stores.ts';
import { Ingestor } from './ingestor.ts';
import { storeIdOf } from './store-id.ts';

export interface TelemetryOptions {
  /** The store's directory. */
  dir: string;
  clock?: Clock;
  logger: Logger;
  /** Passed to the store (retention, intervals; tests shorten them). */
  tsdb?: Omit<TsdbOptions, 'dir' | 'clock'>;
  /** Where the copies of other replicas' points go (default: `DIR-copies`, beside the store). */
  copiesDir?: string;
}

export class TelemetryService {
  readonly db: TimeSeriesStore;
  /** The store's own id (store-id.ts): what other replicas file their copies of its points under. */
  readonly storeId: string;
  readonly copies: CopyStores;
  readonly clock: Clock;
  readonly #ingestor: Ingestor;
  readonly #logger: Logger;
  #closed = false;

  constructor(o: TelemetryOptions) {
    this.clock = o.clock ?? systemClock;
    this.db = new TimeSeriesStore({ ...o.tsdb, dir: o.dir, clock: this.clock });
    this.storeId = storeIdOf(o.dir);
    this.#ingestor = new Ingestor(this.db, this.clock);
    this.#logger = o.logger;
    this.copies = new CopyStores({
      dir: o.copiesDir ?? `${o.dir.replace(/\/+$/, '')}-copies`,
      clock: this.clock,
      logger: o.logger,
      ...(o.tsdb === undefined ? {} : { tsdb: o.tsdb }),
    });
  }

  /** Applies a batch; resolves once its points and seq are durable (group commit). */
  ingest(batch: IngestBatch): Promise<IngestResult> {
    if (this.#closed) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the server is shutting down');
    return this.#ingestor.apply(batch);
  }

  /** The stores' flush and roll-up loops; closes them when the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await Promise.all([
        this.db.run(signal, (e) => this.#logger.error({ err: e }, 'time series maintenance failed')),
        this.copies.run(signal),
      ]);
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ingestor.close();
    this.db.close();
    this.copies.close();
  }
}

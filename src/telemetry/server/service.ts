/**
 * The control plane's time series: one store under the server's data dir (`DATA_DIR/tsdb`), the
 * ingest of agents' batches, and the store's own loop (flush every second, cut windows and roll up
 * every minute) until the signal aborts.
 */
import type { Clock, Logger } from '../../lib/index.ts';
import { systemClock } from '../../lib/index.ts';
import type { IngestBatch, IngestResult } from '../../model/index.ts';
import { TimeSeriesStore, type TsdbOptions } from '../tsdb/index.ts';
import { Ingestor } from './ingestor.ts';

export interface TelemetryOptions {
  /** The store's directory. */
  dir: string;
  clock?: Clock;
  logger: Logger;
  /** Passed to the store (retention, intervals; tests shorten them). */
  tsdb?: Omit<TsdbOptions, 'dir' | 'clock'>;
}

export class TelemetryService {
  readonly db: TimeSeriesStore;
  readonly clock: Clock;
  readonly #ingestor: Ingestor;
  readonly #logger: Logger;
  #closed = false;

  constructor(o: TelemetryOptions) {
    this.clock = o.clock ?? systemClock;
    this.db = new TimeSeriesStore({ ...o.tsdb, dir: o.dir, clock: this.clock });
    this.#ingestor = new Ingestor(this.db, this.clock);
    this.#logger = o.logger;
  }

  ingest(batch: IngestBatch): IngestResult {
    return this.#ingestor.apply(batch);
  }

  /** The store's flush and roll-up loop; closes the store when the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.db.run(signal, (e) => this.#logger.error({ err: e }, 'time series maintenance failed'));
    } finally {
      this.close();
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ingestor.close();
    this.db.close();
  }
}

/**
 * Copies of other replicas' points (docs/telemetry.md, "Replication of points between replicas").
 * The replica that received a batch from an agent forwards it, once applied and durable, to its
 * successor in the ring of replicas; the successor keeps it here, in one store per origin
 * (`DATA_DIR/tsdb-copies/ORIGIN/`, ORIGIN the origin's store id), each with its own seq log, so a
 * batch forwarded twice is applied once (the same rule as the agent's re-sends: Ingestor).
 *
 * Copies never go into the replica's own store: its own share of a query stays disjoint from the
 * other replicas' shares, and a copy share is read only in place of an origin that did not answer.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock, Logger } from '../../lib/index.ts';
import { DabbaError } from '../../errors/index.ts';
import type { IngestBatch, IngestResult } from '../../model/index.ts';
import { TimeSeriesStore, type PartialResult, type Query, type TsdbOptions } from '../tsdb/index.ts';
import { writeFileAtomic } from '../tsdb/durable-files.ts';
import { Ingestor } from './ingestor.ts';
import { STORE_ID_PATTERN } from './store-id.ts';

/** An origin whose points this replica holds copies of: its store id and the replica that sent them last. */
export interface CopyOrigin {
  store: string;
  replica: string;
}

/** A copy store's decoded-block cache (the replica's own store has the big one). */
const COPY_QUERY_CACHE_BYTES = 16 * 1024 * 1024;

interface Copy {
  db: TimeSeriesStore;
  ingestor: Ingestor;
  replica: string;
}

export class CopyStores {
  readonly dir: string;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #tsdb: Omit<TsdbOptions, 'dir' | 'clock'>;
  readonly #copies = new Map<string, Copy>();
  readonly #loops: Promise<void>[] = [];
  #signal: AbortSignal | undefined;
  #closed = false;

  constructor(o: { dir: string; clock: Clock; logger: Logger; tsdb?: Omit<TsdbOptions, 'dir' | 'clock'> }) {
    this.dir = o.dir;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#tsdb = { queryCacheBytes: COPY_QUERY_CACHE_BYTES, ...o.tsdb };
    mkdirSync(this.dir, { recursive: true });
    for (const e of readdirSync(this.dir, { withFileTypes: true })) {
      if (e.isDirectory() && STORE_ID_PATTERN.test(e.name)) this.#open(e.name, undefined);
    }
  }

  /** The origins held, in store id order. */
  list(): CopyOrigin[] {
    return [...this.#copies]
      .map(([store, c]) => ({ store, replica: c.replica }))
      .sort((a, b) => (a.store < b.store ? -1 : a.store > b.store ? 1 : 0));
  }

  /**
   * Applies a forwarded batch to the origin's copy store (opened on its first batch); resolves once
   * durable. A batch applied before (same host, spool and seq or lower) is answered `duplicate`.
   */
  async apply(origin: string, replica: string, batch: IngestBatch): Promise<IngestResult> {
    if (this.#closed) throw new DabbaError('DABBA_E_UNAVAILABLE', 'the server is shutting down');
    if (!STORE_ID_PATTERN.test(origin))
      throw new DabbaError('DABBA_E_BAD_REQUEST', `"${origin}" is not a store id (16 to 64 of a-z, 0-9)`);
    const copy = this.#copies.get(origin) ?? this.#open(origin, replica);
    if (copy.replica !== replica) {
      writeOrigin(join(this.dir, origin), replica);
      copy.replica = replica;
    }
    return await copy.ingestor.apply(batch);
  }

  /** The share of `origin`'s copies for a query (undefined: no copies of it here). */
  partial(origin: string, q: Query): PartialResult | undefined {
    return this.#copies.get(origin)?.db.partial(q);
  }

  /** The copy stores' flush and roll-up loops (also of those opened later) until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    this.#signal = signal;
    for (const [store, c] of this.#copies) this.#start(store, c);
    if (!signal.aborted)
      await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    await Promise.allSettled(this.#loops);
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#copies.values()) {
      c.ingestor.close();
      c.db.close();
    }
  }

  #open(store: string, replica: string | undefined): Copy {
    const dir = join(this.dir, store);
    mkdirSync(dir, { recursive: true });
    const known = readOrigin(dir);
    if (replica !== undefined && replica !== known) writeOrigin(dir, replica);
    const db = new TimeSeriesStore({ ...this.#tsdb, dir, clock: this.#clock });
    const copy: Copy = {
      db,
      ingestor: new Ingestor(db, this.#clock),
      replica: replica ?? known ?? 'unknown',
    };
    this.#copies.set(store, copy);
    if (this.#signal !== undefined) this.#start(store, copy);
    return copy;
  }

  #start(store: string, c: Copy): void {
    const signal = this.#signal;
    if (signal === undefined || signal.aborted) return;
    this.#loops.push(
      c.db.run(signal, (e) => this.#logger.error({ err: e, origin: store }, 'copy store maintenance failed')),
    );
  }
}

function readOrigin(dir: string): string | undefined {
  try {
    const r = JSON.parse(readFileSync(join(dir, 'origin.json'), 'utf8')) as { replica?: unknown };
    return typeof r.replica === 'string' ? r.replica : undefined;
  } catch {
    return undefined;
  }
}

/** Notes the replica that sent the copies last (for messages), durably. */
function writeOrigin(dir: string, replica: string): void {
  writeFileAtomic(join(dir, 'origin.json'), [Buffer.from(JSON.stringify({ replica }) + '\n')]);
}

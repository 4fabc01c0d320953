import type { Clock } from '../../lib/index.ts';
import { shortId } from '../../lib/index.ts';
import type { DabbaEvent } from '../../model/index.ts';
import { ALL_NAMESPACES, keys, namespaceOfJobId } from '../../model/index.ts';
import type { Store, TxnOp } from '../../store/index.ts';
import { decode } from './json.ts';

export type NewEvent = Omit<DabbaEvent, 'id' | 'at'>;

/** The event log under /events/: what happened, for people (`dabba status`, the UI, `GET /v1/events`). */
export class EventLog {
  readonly #store: Store;
  readonly #clock: Clock;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /** Store ops that append these events (to put in the same txn as the change they describe). */
  ops(events: NewEvent[]): TxnOp[] {
    const at = this.#clock.now();
    return events.map((e) => {
      const id = `${at}-${shortId(6)}`;
      const ev: DabbaEvent = { id, at, ...e };
      return { type: 'put', key: keys.event(at, id.slice(-6)), value: JSON.stringify(ev) };
    });
  }

  async append(events: NewEvent[]): Promise<void> {
    if (events.length === 0) return;
    await this.#store.txn({ compare: [], success: this.ops(events) });
  }

  /** The newest events (of `job`, an id; of `namespace`'s jobs and those naming no job). */
  async list(options: { job?: string; limit?: number; namespace?: string } = {}): Promise<DabbaEvent[]> {
    return (await this.listAt(options)).events;
  }

  /** The newest events (oldest first) and the store revision they were read at. */
  async listAt(
    options: { job?: string; limit?: number; namespace?: string } = {},
  ): Promise<{ events: DabbaEvent[]; revision: number }> {
    const { kvs, revision } = await this.#store.range(keys.eventsPrefix);
    let events = kvs.map((kv) => decode<DabbaEvent>(kv));
    if (options.job !== undefined) events = events.filter((e) => e.job === options.job);
    const ns = options.namespace;
    if (ns !== undefined && ns !== ALL_NAMESPACES) {
      events = events.filter((e) => e.job === undefined || namespaceOfJobId(e.job) === ns);
    }
    const limit = options.limit ?? 100;
    return { events: events.slice(-limit), revision };
  }
}

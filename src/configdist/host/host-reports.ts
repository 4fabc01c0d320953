/**
 * The versions a host reports having (`dabba config status`), batched: what changes within
 * BATCH_MS goes in one request (`POST /v1/configdist/hosts/ID/reports`), so that a change to many
 * configs costs the server one request and one store transaction per host, not one per config (on a
 * busy server those queued ahead of the next change). Each report says how long ago the host had
 * the version, so the server's time for it does not include the wait here. A batch the server
 * refuses (an older server without the route) goes out one report per config, as before.
 */
import type { ConfigReport, DabbaClient } from '../../client/index.ts';
import { messageOf } from '../../errors/index.ts';
import type { Logger } from '../../lib/index.ts';

const BATCH_MS = 100;

export class HostReports {
  readonly #client: DabbaClient;
  readonly #hostId: string;
  readonly #logger: Logger;
  /** The latest report per `ns\0path`, with the epoch ms it was made. */
  readonly #pending = new Map<string, Omit<ConfigReport, 'ageMs'> & { at: number }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(client: DabbaClient, hostId: string, logger: Logger) {
    this.#client = client;
    this.#hostId = hostId;
    this.#logger = logger;
  }

  add(r: Omit<ConfigReport, 'ageMs'>): void {
    this.#pending.set(`${r.namespace}\0${r.path}`, { ...r, at: Date.now() });
    this.#timer ??= setTimeout(() => void this.#flush(), BATCH_MS);
  }

  /** Stops the timer (what is pending is not sent). */
  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async #flush(): Promise<void> {
    this.#timer = undefined;
    const now = Date.now();
    const batch = [...this.#pending.values()].map(({ at, ...r }) => ({ ...r, ageMs: now - at }));
    this.#pending.clear();
    if (batch.length === 0) return;
    try {
      await this.#client.configDist().report(this.#hostId, batch);
    } catch (e) {
      this.#logger.debug({ err: messageOf(e), reports: batch.length }, 'config reports failed; one by one');
      await Promise.all(
        batch.map((r) =>
          this.#client
            .configs()
            .reportHost(this.#hostId, r.namespace, r.path, r.version, r.digest)
            .catch((err: unknown) =>
              this.#logger.debug({ err: messageOf(err), config: r.path }, 'config report failed'),
            ),
        ),
      );
    }
  }
}

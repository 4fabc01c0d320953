import type { DabbaClient } from '../client/index.ts';
import { DabbaError } from '../errors/index.ts';
import type { Logger } from '../lib/index.ts';
import { backoffDelay, sleep } from '../lib/index.ts';
import type { TaskStatus } from '../model/index.ts';

/**
 * Sends task statuses to the server, latest-wins per task: a burst of changes becomes one write, and
 * a server that is away gets the newest status when it is back.
 */
export class StatusReporter {
  readonly #client: DabbaClient;
  readonly #logger: Logger;
  readonly #latest = new Map<string, TaskStatus>();
  #wake: (() => void) | undefined;
  #idle: Promise<void> = Promise.resolve();
  #idleResolve: (() => void) | undefined;

  constructor(client: DabbaClient, logger: Logger) {
    this.#client = client;
    this.#logger = logger;
  }

  report(status: TaskStatus): void {
    this.#latest.set(status.id, status);
    if (!this.#idleResolve) this.#idle = new Promise((r) => (this.#idleResolve = r));
    this.#wake?.();
  }

  /** Resolves when every queued status has been sent (or dropped). */
  flushed(): Promise<void> {
    return this.#idle;
  }

  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      const next = this.#latest.entries().next();
      if (next.done) {
        this.#idleResolve?.();
        this.#idleResolve = undefined;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
          signal.addEventListener('abort', () => resolve(), { once: true });
        });
        this.#wake = undefined;
        continue;
      }
      const [id, status] = next.value;
      this.#latest.delete(id);
      try {
        await this.#client.reportStatus(status);
        failures = 0;
      } catch (e) {
        if (e instanceof DabbaError && (e.code === 'DABBA_E_NOT_FOUND' || e.code === 'DABBA_E_VALIDATION')) {
          this.#logger.debug({ task: id, code: e.code }, 'status dropped');
          continue;
        }
        if (!this.#latest.has(id)) this.#latest.set(id, status);
        failures++;
        this.#logger.warn({ task: id, err: (e as Error).message }, 'status report failed; retrying');
        await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 5000 }), signal);
      }
    }
  }
}

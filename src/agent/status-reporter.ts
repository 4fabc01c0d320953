import type { DabbaClient } from '../client/index.ts';
import { DabbaError } from '../errors/index.ts';
import type { Logger } from '../lib/index.ts';
import { backoffDelay, sleep } from '../lib/index.ts';
import type { TaskStatus } from '../model/index.ts';

/** Statuses of different tasks sent at once, at most (a burst of starts ends in a burst of reports). */
const IN_FLIGHT = 8;

/**
 * Sends task statuses to the server, latest-wins per task: a burst of changes becomes one write, and
 * a server that is away gets the newest status when it is back. Statuses of different tasks go out
 * concurrently (up to IN_FLIGHT); those of one task never overtake each other.
 */
export class StatusReporter {
  readonly #client: DabbaClient;
  readonly #logger: Logger;
  readonly #latest = new Map<string, TaskStatus>();
  readonly #inFlight = new Map<string, Promise<void>>();
  /** Failed sends in a row, per task: each task backs off on its own. */
  readonly #failures = new Map<string, number>();
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

  /** The oldest queued status of a task with nothing in flight. */
  #next(): [string, TaskStatus] | undefined {
    for (const entry of this.#latest) if (!this.#inFlight.has(entry[0])) return entry;
    return undefined;
  }

  async #send(id: string, status: TaskStatus, signal: AbortSignal): Promise<void> {
    try {
      await this.#client.reportStatus(status);
      // `at` (epoch ms, sub-ms precision) lets bench/oci-deploy.ts split deploy latency into parts.
      this.#logger.debug(
        { task: id, state: status.state, at: performance.timeOrigin + performance.now() },
        'status sent',
      );
      this.#failures.delete(id);
    } catch (e) {
      if (e instanceof DabbaError && (e.code === 'DABBA_E_NOT_FOUND' || e.code === 'DABBA_E_VALIDATION')) {
        this.#logger.debug({ task: id, code: e.code }, 'status dropped');
        this.#failures.delete(id);
        return;
      }
      if (!this.#latest.has(id)) this.#latest.set(id, status);
      const failures = (this.#failures.get(id) ?? 0) + 1;
      this.#failures.set(id, failures);
      this.#logger.warn({ task: id, err: (e as Error).message }, 'status report failed; retrying');
      // The task stays "in flight" while it backs off: its retry waits, other tasks do not.
      await sleep(backoffDelay(failures, { initialMs: 200, maxMs: 5000 }), signal);
    }
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const next = this.#inFlight.size < IN_FLIGHT ? this.#next() : undefined;
      if (next) {
        const [id, status] = next;
        this.#latest.delete(id);
        const p = this.#send(id, status, signal).finally(() => {
          this.#inFlight.delete(id);
          this.#wake?.();
        });
        this.#inFlight.set(id, p);
        continue;
      }
      if (this.#latest.size === 0 && this.#inFlight.size === 0) {
        this.#idleResolve?.();
        this.#idleResolve = undefined;
      }
      // Wait for a new status, a send to finish, or the end.
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.#wake = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        signal.addEventListener('abort', onAbort, { once: true });
      });
      this.#wake = undefined;
    }
    await Promise.allSettled(this.#inFlight.values());
  }
}

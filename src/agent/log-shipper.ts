/**
 * Ships what tasks write to the server's `tasklogs` table. Each run of a task is followed through
 * the runtime's log reader (the files conmon or the process runtime write; the task never waits on
 * us), its lines queued in memory — bounded in lines and bytes: when full, new lines are dropped and
 * counted, never blocking a task nor growing the agent — and sent in batches every interval. A batch
 * the server cannot take now is retried with backoff; one it refuses (4xx) is dropped.
 */
import type { DabbaClient } from '../client/index.ts';
import { DabbaError, messageOf } from '../errors/index.ts';
import type { Logger } from '../lib/index.ts';
import { backoffDelay, sleep } from '../lib/index.ts';
import { LOG_TABLE_LIMITS, type TaskLogLine } from '../model/index.ts';
import type { Runtime } from '../runtime/index.ts';

export interface LogShipperOptions {
  client: DabbaClient;
  runtime: Runtime;
  hostId: string;
  logger: Logger;
  /** Lines and bytes queued at most (default 20,000 and 8 MiB). */
  maxLines?: number;
  maxBytes?: number;
  /** Lines and bytes per batch at most (default 2,000 and 1 MiB). */
  batchLines?: number;
  batchBytes?: number;
  /** How often a batch goes (ms, default 1,000). */
  intervalMs?: number;
}

export interface FollowedRun {
  taskId: string;
  job: string;
  startedAt: number;
  /** Begun under a previous agent: only what it writes from now on (the rest was shipped then). */
  adopted: boolean;
}

export class LogShipper {
  readonly #o: LogShipperOptions;
  readonly #stop = new AbortController();
  #queue: TaskLogLine[] = [];
  #queuedBytes = 0;
  #dropped = 0;
  #followers = new Set<Promise<void>>();

  constructor(o: LogShipperOptions) {
    this.#o = o;
  }

  /** Lines waiting to be sent, and lines dropped since the last batch went. */
  get pending(): { lines: number; bytes: number; dropped: number } {
    return { lines: this.#queue.length, bytes: this.#queuedBytes, dropped: this.#dropped };
  }

  /** Follows a run's output until the run is over (or the shipper stops). */
  follow(run: FollowedRun): void {
    if (this.#stop.signal.aborted) return;
    const p = (async () => {
      try {
        const lines = this.#o.runtime.logs(run.taskId, {
          follow: true,
          signal: this.#stop.signal,
          ...(run.adopted ? { tail: 0 } : {}),
        });
        for await (const l of lines) {
          this.#push({
            task: run.taskId,
            job: run.job,
            stream: l.stream,
            time: l.time ?? Date.now(),
            text: l.text.slice(0, LOG_TABLE_LIMITS.lineChars),
          });
        }
      } catch (e) {
        if (!this.#stop.signal.aborted)
          this.#o.logger.debug({ task: run.taskId, err: messageOf(e) }, 'task log follow ended');
      }
    })();
    this.#followers.add(p);
    void p.finally(() => this.#followers.delete(p));
  }

  #push(line: TaskLogLine): void {
    const bytes = line.text.length + 64;
    if (
      this.#queue.length >= (this.#o.maxLines ?? 20_000) ||
      this.#queuedBytes + bytes > (this.#o.maxBytes ?? 8 << 20)
    ) {
      this.#dropped++;
      return;
    }
    this.#queue.push(line);
    this.#queuedBytes += bytes;
  }

  #batch(): TaskLogLine[] {
    const maxLines = this.#o.batchLines ?? 2000;
    const maxBytes = this.#o.batchBytes ?? 1 << 20;
    let bytes = 0;
    let n = 0;
    while (n < this.#queue.length && n < maxLines) {
      bytes += (this.#queue[n]?.text.length ?? 0) + 64;
      if (n > 0 && bytes > maxBytes) break;
      n++;
    }
    return this.#queue.slice(0, n);
  }

  /** Sends batches every interval until the signal aborts; then stops following. */
  async run(signal: AbortSignal): Promise<void> {
    const every = this.#o.intervalMs ?? 1000;
    let failures = 0;
    try {
      while (!signal.aborted) {
        await sleep(
          failures === 0 ? every : backoffDelay(failures, { initialMs: every, maxMs: 30_000 }),
          signal,
        );
        if (signal.aborted) break;
        while (this.#queue.length > 0 || this.#dropped > 0) {
          const lines = this.#batch();
          const dropped = this.#dropped;
          try {
            await this.#o.client.shipTaskLogs(this.#o.hostId, { lines, ...(dropped > 0 ? { dropped } : {}) });
            failures = 0;
          } catch (e) {
            if (signal.aborted) break;
            const refused =
              e instanceof DabbaError && e.httpStatus >= 400 && e.httpStatus < 500 && e.httpStatus !== 408;
            // A server without log tables answers 404: not worth a warning every second.
            const level = e instanceof DabbaError && e.code === 'DABBA_E_NOT_FOUND' ? 'debug' : 'warn';
            this.#o.logger[level](
              { err: messageOf(e), lines: lines.length, refused },
              'task log batch not sent',
            );
            if (!refused) {
              failures++;
              break;
            }
          }
          this.#dropped -= dropped;
          this.#queue.splice(0, lines.length);
          this.#queuedBytes -= lines.reduce((s, l) => s + l.text.length + 64, 0);
        }
      }
    } finally {
      this.#stop.abort();
      await Promise.allSettled([...this.#followers]);
    }
  }
}

/**
 * How late this process's event loop has been lately: the longest delay in the current and the
 * previous one-second window (perf_hooks' histogram, 10 ms resolution). Logged with each config
 * update, so that the benchmarks can tell a metadata hop's time on the wire from the time the
 * receiving host's loop was busy elsewhere (bench/config-stages.ts).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const WINDOW_MS = 1000;

export class LoopLag {
  #h: ReturnType<typeof monitorEventLoopDelay> | undefined;
  #timer: NodeJS.Timeout | undefined;
  #previousMaxNs = 0;

  start(): void {
    if (this.#h !== undefined) return;
    const h = monitorEventLoopDelay({ resolution: 10 });
    h.enable();
    this.#h = h;
    this.#timer = setInterval(() => {
      this.#previousMaxNs = h.max;
      h.reset();
    }, WINDOW_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#h?.disable();
    this.#h = undefined;
  }

  /** The longest loop delay seen in the last one to two seconds (ms, 0 when not started). */
  maxMs(): number {
    const h = this.#h;
    if (h === undefined) return 0;
    return Math.round(Math.max(h.max, this.#previousMaxNs) / 1e6);
  }
}

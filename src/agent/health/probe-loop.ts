/**
 * Runs a probe over and over and turns results into a passing/failing state: `failures`
 * consecutive failures make a passing probe fail, `successes` consecutive successes make a failing
 * one pass again. Liveness probes start passing (a task is alive until proven otherwise), readiness
 * probes start not passing (not ready until proven). Failures before the first success, within the
 * probe's start period after start(), are not counted (Docker's start period): a slow starter is not
 * killed while it boots. Clock and timers are injectable for tests.
 */
import { messageOf } from '../../errors/index.ts';
import { systemClock, type Clock } from '../../lib/index.ts';
import type { ProbeSpec } from '../../model/index.ts';
import type { ProbeResult } from './probe.ts';

export type ProbeKind = 'liveness' | 'readiness';

export interface ProbeState {
  passing: boolean;
  /** Message of the latest result (or why there is none yet). */
  message: string;
}

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

export interface ProbeLoopOptions {
  spec: ProbeSpec;
  kind: ProbeKind;
  /** One probe run; the signal aborts when the loop stops. Rejections count as failures. */
  run(signal: AbortSignal): Promise<ProbeResult>;
  /** Called when `passing` flips (not for every result). */
  onChange(state: ProbeState): void;
  clock?: Clock;
  timers?: Timers;
}

export class ProbeLoop {
  readonly #o: ProbeLoopOptions;
  readonly #clock: Clock;
  readonly #timers: Timers;
  #passing: boolean;
  #message = 'not probed yet';
  #failures = 0;
  #successes = 0;
  /** When start() ran; failures before the first success within the start period do not count. */
  #startedAt = 0;
  #everPassed = false;
  #timer: unknown;
  #abort: AbortController | undefined;
  #stopped = false;
  /** Takes stop() off the start signal (a long-lived signal would otherwise keep every loop). */
  #unlisten: (() => void) | undefined;

  constructor(options: ProbeLoopOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#timers = options.timers ?? realTimers;
    this.#passing = options.kind === 'liveness';
  }

  get state(): ProbeState {
    return { passing: this.#passing, message: this.#message };
  }

  /** Starts probing after the initial delay; stops when the signal aborts (or stop()). */
  start(signal?: AbortSignal): void {
    if (this.#abort !== undefined || this.#stopped) return;
    this.#abort = new AbortController();
    this.#startedAt = this.#clock.now();
    if (signal !== undefined) {
      if (signal.aborted) return this.stop();
      const onAbort = (): void => this.stop();
      signal.addEventListener('abort', onAbort, { once: true });
      this.#unlisten = () => signal.removeEventListener('abort', onAbort);
    }
    this.#schedule(Math.max(0, this.#o.spec.initialDelayMs));
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unlisten?.();
    this.#unlisten = undefined;
    if (this.#timer !== undefined) this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#abort?.abort();
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = this.#timers.setTimeout(() => void this.#tick(), ms);
  }

  async #tick(): Promise<void> {
    this.#timer = undefined;
    const signal = this.#abort?.signal;
    if (this.#stopped || signal === undefined) return;
    const began = this.#clock.now();
    let result: ProbeResult;
    try {
      result = await this.#o.run(signal);
    } catch (e) {
      result = { ok: false, message: messageOf(e) };
    }
    if (this.#stopped) return;
    this.#record(result);
    // The interval runs from the start of one probe to the next; a slow probe is not overlapped.
    this.#schedule(Math.max(0, this.#o.spec.intervalMs - (this.#clock.now() - began)));
  }

  /** Still in the start period: not passed once yet, and started less than startPeriodMs ago. */
  #starting(): boolean {
    const period = this.#o.spec.startPeriodMs ?? 0;
    return !this.#everPassed && this.#clock.now() - this.#startedAt < period;
  }

  #record(result: ProbeResult): void {
    this.#message = result.message;
    if (result.ok) {
      this.#everPassed = true;
      this.#successes++;
      this.#failures = 0;
    } else if (this.#starting()) {
      this.#message = `${result.message} (not counted: starting)`;
      this.#successes = 0;
      return;
    } else {
      this.#failures++;
      this.#successes = 0;
    }
    const flip = this.#passing
      ? !result.ok && this.#failures >= Math.max(1, this.#o.spec.failures)
      : result.ok && this.#successes >= Math.max(1, this.#o.spec.successes);
    if (!flip) return;
    this.#passing = !this.#passing;
    try {
      this.#o.onChange(this.state);
    } catch {
      // A listener's failure must not stop the probing.
    }
  }
}

/**
 * The agent's runtime self-check (issue 14): every 30 s the runtime's healthCheck() (oci: the
 * binaries there and `runc/crun list` answering; process: a process can be started). Two failures
 * in a row make the host condition RuntimeBroken with what is wrong, so placement keeps new tasks
 * off the host and remediation rules can match it; one success clears it. Running tasks are left
 * alone. A runtime without a self-check is never reported broken.
 */
import { messageOf } from '../errors/index.ts';
import { sleep, type Clock, type Logger } from '../lib/index.ts';
import type { HostCondition } from '../model/index.ts';
import type { Runtime } from '../runtime/index.ts';

export const RUNTIME_CHECK_MS = 30_000;
const FAILURES = 2;

export class RuntimeHealth {
  readonly #runtime: Pick<Runtime, 'healthCheck' | 'name'>;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #everyMs: number;
  #failures = 0;
  #condition: HostCondition | undefined;

  constructor(o: {
    runtime: Pick<Runtime, 'healthCheck' | 'name'>;
    clock: Clock;
    logger: Logger;
    everyMs?: number;
  }) {
    this.#runtime = o.runtime;
    this.#clock = o.clock;
    this.#logger = o.logger;
    this.#everyMs = o.everyMs ?? RUNTIME_CHECK_MS;
  }

  /** One check (exported for tests). */
  async check(): Promise<void> {
    const problem = await (this.#runtime.healthCheck?.() ?? Promise.resolve(undefined)).catch(
      (e: unknown) => `the self-check failed: ${messageOf(e)}`,
    );
    if (problem === undefined) {
      if (this.#condition !== undefined) this.#logger.info('the runtime works again');
      this.#failures = 0;
      this.#condition = undefined;
      return;
    }
    this.#failures++;
    if (this.#failures < FAILURES) return;
    if (this.#condition === undefined) this.#logger.error({ problem }, 'the runtime is broken');
    this.#condition = {
      type: 'RuntimeBroken',
      message: `the ${this.#runtime.name} runtime: ${problem}`,
      since: this.#condition?.since ?? this.#clock.now(),
    };
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#everyMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      await this.check();
    }
  }

  conditions(): HostCondition[] {
    return this.#condition === undefined ? [] : [this.#condition];
  }
}

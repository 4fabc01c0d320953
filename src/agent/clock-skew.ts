/**
 * The agent's clock against the server's (issue 14's self-check): each heartbeat's answer carries
 * the server's time; the agent compares it with the middle of the request's round trip on its own
 * clock. Beyond the bound (2 s), the host reports the condition ClockSkew with the difference, so
 * placement keeps new tasks off it (its lease times, certificates and logs' times cannot be
 * trusted); it clears once a heartbeat finds the clocks within the bound again. A round trip longer
 * than the bound says nothing either way and is ignored.
 *
 * For tests, DABBA_TEST_CLOCK_OFFSET_MS shifts the clock this check reads (never the system's).
 */
import type { HostCondition } from '../model/index.ts';

export const CLOCK_SKEW_BOUND_MS = 2000;

export class ClockSkew {
  readonly #offsetMs: number;
  readonly #boundMs: number;
  #condition: HostCondition | undefined;

  constructor(o: { offsetMs?: number; boundMs?: number } = {}) {
    this.#offsetMs = o.offsetMs ?? testOffset();
    this.#boundMs = o.boundMs ?? CLOCK_SKEW_BOUND_MS;
  }

  /** The agent's clock as this check reads it. */
  now(): number {
    return Date.now() + this.#offsetMs;
  }

  /** A heartbeat sent at `sentAt` and answered at `receivedAt` (this clock) with the server's time. */
  observe(sentAt: number, receivedAt: number, serverTime: unknown): void {
    if (typeof serverTime !== 'number' || !Number.isFinite(serverTime)) return;
    const rtt = receivedAt - sentAt;
    if (rtt < 0 || rtt > this.#boundMs) return;
    const skew = sentAt + rtt / 2 - serverTime;
    if (Math.abs(skew) <= this.#boundMs) {
      this.#condition = undefined;
      return;
    }
    const s = (skew / 1000).toFixed(1);
    this.#condition = {
      type: 'ClockSkew',
      message: `the host's clock is ${skew > 0 ? `${s} s ahead of` : `${s.slice(1)} s behind`} the server's (bound ${this.#boundMs / 1000} s): check its time sync (chrony, systemd-timesyncd)`,
      since: this.#condition?.since ?? serverTime,
    };
  }

  conditions(): HostCondition[] {
    return this.#condition === undefined ? [] : [this.#condition];
  }
}

function testOffset(): number {
  const v = Number(process.env['DABBA_TEST_CLOCK_OFFSET_MS'] ?? 0);
  return Number.isFinite(v) ? v : 0;
}

/**
 * The agent's view of its own disk: the data dir watched for free space (against the agent's
 * watermark) and for turning read-only, as host conditions sent with every heartbeat. Each change
 * is logged once; conditions clear by themselves when space returns.
 */
import type { HostCondition, LogGap } from '../model/index.ts';
import { DiskMonitor, type Clock, type DiskCondition, type Logger, type Watermark } from '../lib/index.ts';

const TYPES: Record<DiskCondition['kind'], HostCondition['type']> = {
  full: 'DiskFull',
  low: 'DiskPressure',
  'read-only': 'DiskReadOnly',
};

/** How long a window in which writes failed is remembered (what `dabba logs` may be told of). */
const GAP_MEMORY_MS = 24 * 60 * 60 * 1000;
const MAX_GAPS = 100;

export interface DiskConditionsOptions {
  dataDir: string;
  watermark?: Watermark;
  intervalMs?: number;
  clock: Clock;
  logger: Logger;
}

export class DiskConditions {
  readonly monitor: DiskMonitor;
  readonly #clock: Clock;
  /** Windows in which the data dir took no writes (oldest first; the last may still be open). */
  readonly #gaps: LogGap[] = [];

  constructor(o: DiskConditionsOptions) {
    this.#clock = o.clock;
    this.monitor = new DiskMonitor({
      paths: [o.dataDir],
      clock: o.clock,
      ...(o.watermark ? { watermark: o.watermark } : {}),
      ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }),
      onChange: (added, cleared) => {
        for (const c of added) {
          if (c.kind !== 'low') this.#openGap(TYPES[c.kind] as LogGap['condition'], c.since);
          const fields = { condition: TYPES[c.kind], path: c.path, freeBytes: c.freeBytes };
          if (c.kind === 'low') o.logger.warn(fields, `${c.message}: the host takes no new tasks`);
          else
            o.logger.error(
              fields,
              `${c.message}: running tasks go on (their output that cannot be written is dropped); the host takes no new tasks`,
            );
        }
        for (const c of cleared) {
          if (c.kind !== 'low') this.#closeGap(TYPES[c.kind] as LogGap['condition']);
          o.logger.info({ condition: TYPES[c.kind] }, `cleared: ${c.message}`);
        }
      },
    });
  }

  /** The conditions to report in the next heartbeat (empty when all is well). */
  conditions(): HostCondition[] {
    return this.monitor
      .conditions()
      .map((c) => ({ type: TYPES[c.kind], message: c.message, since: c.since }));
  }

  /**
   * The windows of the last day in which this host's data dir could take no writes (full or
   * read-only), overlapping [since, now]: a task's output written then is missing from its log.
   */
  logGaps(since = 0): LogGap[] {
    const now = this.#clock.now();
    while (this.#gaps.length > 0 && (this.#gaps[0]?.to ?? now) < now - GAP_MEMORY_MS) this.#gaps.shift();
    return this.#gaps.filter((g) => (g.to ?? now) >= since).map((g) => ({ ...g }));
  }

  #openGap(condition: LogGap['condition'], from: number): void {
    if (this.#gaps.some((g) => g.condition === condition && g.to === undefined)) return;
    this.#gaps.push({ condition, from });
    if (this.#gaps.length > MAX_GAPS) this.#gaps.shift();
  }

  #closeGap(condition: LogGap['condition']): void {
    const open = this.#gaps.find((g) => g.condition === condition && g.to === undefined);
    if (open) open.to = this.#clock.now();
  }

  run(signal: AbortSignal): Promise<void> {
    return this.monitor.run(signal);
  }
}

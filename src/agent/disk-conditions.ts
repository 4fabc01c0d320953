/**
 * The agent's view of its own disk: the data dir watched for free space (against the agent's
 * watermark) and for turning read-only, as host conditions sent with every heartbeat. Each change
 * is logged once; conditions clear by themselves when space returns.
 */
import type { HostCondition } from '../model/index.ts';
import { DiskMonitor, type Clock, type DiskCondition, type Logger, type Watermark } from '../lib/index.ts';

const TYPES: Record<DiskCondition['kind'], HostCondition['type']> = {
  full: 'DiskFull',
  low: 'DiskPressure',
  'read-only': 'DiskReadOnly',
};

export interface DiskConditionsOptions {
  dataDir: string;
  watermark?: Watermark;
  intervalMs?: number;
  clock: Clock;
  logger: Logger;
}

export class DiskConditions {
  readonly monitor: DiskMonitor;

  constructor(o: DiskConditionsOptions) {
    this.monitor = new DiskMonitor({
      paths: [o.dataDir],
      clock: o.clock,
      ...(o.watermark ? { watermark: o.watermark } : {}),
      ...(o.intervalMs === undefined ? {} : { intervalMs: o.intervalMs }),
      onChange: (added, cleared) => {
        for (const c of added) {
          const fields = { condition: TYPES[c.kind], path: c.path, freeBytes: c.freeBytes };
          if (c.kind === 'low') o.logger.warn(fields, `${c.message}: the host takes no new tasks`);
          else
            o.logger.error(
              fields,
              `${c.message}: running tasks go on (their output that cannot be written is dropped); the host takes no new tasks`,
            );
        }
        for (const c of cleared) o.logger.info({ condition: TYPES[c.kind] }, `cleared: ${c.message}`);
      },
    });
  }

  /** The conditions to report in the next heartbeat (empty when all is well). */
  conditions(): HostCondition[] {
    return this.monitor
      .conditions()
      .map((c) => ({ type: TYPES[c.kind], message: c.message, since: c.since }));
  }

  run(signal: AbortSignal): Promise<void> {
    return this.monitor.run(signal);
  }
}

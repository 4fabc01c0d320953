/** The server's time-series store, when it has a directory for it. */
import { join } from 'node:path';
import type { Clock, Logger } from '../../lib/index.ts';
import { TelemetryService, type TelemetryOptions } from '../../telemetry/server/index.ts';

/** The time series in `telemetryDir` (default DATA_DIR/tsdb); undefined without either. */
export function openTelemetry(
  o: { dataDir?: string; telemetryDir?: string; telemetry?: TelemetryOptions['tsdb'] },
  clock: Clock,
  logger: Logger,
): TelemetryService | undefined {
  const telemetryDir = o.telemetryDir ?? (o.dataDir === undefined ? undefined : join(o.dataDir, 'tsdb'));
  const telemetry =
    telemetryDir === undefined
      ? undefined
      : new TelemetryService({
          dir: telemetryDir,
          clock,
          logger: logger.child({ part: 'telemetry' }),
          ...(o.telemetry === undefined ? {} : { tsdb: o.telemetry }),
        });
  return telemetry;
}

/** The server's own gauges: connected agents and watch lag (its scheduler cache), time series. */
import type { Store } from '../../store/index.ts';
import type { ControlPlaneMetrics, TelemetryService } from '../../telemetry/server/index.ts';
import type { SchedulerLoop } from '../scheduler-loop.ts';

/**
 * Registers the gauges; `cacheOwner` is the scheduler whose cache they read, once it exists. Answers
 * the refresh the metrics endpoint runs before a scrape (it measures the watch lag).
 */
export function registerServerGauges(
  metrics: ControlPlaneMetrics,
  store: Store,
  telemetry: TelemetryService | undefined,
  cacheOwner: () => SchedulerLoop | undefined,
): () => Promise<void> {
  let watchLag = 0;
  metrics.registry.gauge(
    'dabba_agents_connected',
    "hosts whose agent is connected (heartbeat within the TTL), by state, as this replica's scheduler cache sees them",
    ['state'],
    () => {
      const owner = cacheOwner();
      const hosts = owner && owner.cache.revision > 0 ? owner.cache.hostViews() : [];
      const by = new Map<string, number>([
        ['ready', 0],
        ['cordoned', 0],
        ['draining', 0],
      ]);
      for (const h of hosts) if (h.state !== 'down') by.set(h.state, (by.get(h.state) ?? 0) + 1);
      return [...by].map(([state, n]) => [[state], n] as const);
    },
  );
  metrics.registry.gauge(
    'dabba_scheduler_watch_lag_revisions',
    "store revisions not yet seen by this replica's scheduler watch (at scrape time)",
    [],
    () => [[[], watchLag]],
  );
  if (telemetry !== undefined) {
    metrics.registry.gauge('dabba_tsdb_series', 'time series known to this replica', [], () => [
      [[], telemetry.db.series().length],
    ]);
    metrics.registry.gauge(
      'dabba_tsdb_head_points',
      'points in the open head (not yet in blocks)',
      [],
      () => [[[], telemetry.db.stats().headPoints]],
    );
  }
  return async () => {
    const owner = cacheOwner();
    watchLag =
      owner && owner.cache.revision > 0 ? Math.max(0, (await store.revision()) - owner.cache.revision) : 0;
  };
}

/**
 * The config distributor's statistics on the telemetry endpoint (`GET /metrics`): per shard, the
 * tree (members, depth), the control protocol (joins, leaves, deaths, repairs, positions sent,
 * heartbeats; and the members' own control counters, summed) and the data protocol (metadata sent
 * to roots; the members' data counters, summed: metadata received and forwarded, bytes by source).
 */
import type { Distributor } from '../configdist/server/index.ts';
import type { Registry } from '../telemetry/server/index.ts';

type Sample = readonly [readonly string[], number];

export function registerDistributorMetrics(registry: Registry, dist: Distributor): void {
  const per = (pick: (s: ReturnType<Distributor['samples']>[number]) => number) => (): Sample[] =>
    dist.samples().map((s) => [[String(s.shard)], pick(s)] as const);
  registry.gauge(
    'dabba_configdist_tree_members',
    "hosts in the config shard's tree",
    ['shard'],
    per((s) => s.members),
  );
  registry.gauge(
    'dabba_configdist_tree_depth',
    "depth of the config shard's tree (0: only a root)",
    ['shard'],
    per((s) => s.depth),
  );
  registry.gauge(
    'dabba_configdist_control_events',
    'control protocol at the distributor, by shard and event (join, leave, death, repair, position, heartbeat)',
    ['shard', 'event'],
    () =>
      dist.samples().flatMap((s) =>
        (
          [
            ['join', s.stats.joins],
            ['leave', s.stats.leaves],
            ['death', s.stats.deaths],
            ['repair', s.stats.repairs],
            ['position', s.stats.positionsSent],
            ['heartbeat', s.stats.heartbeats],
          ] as const
        ).map(([e, n]) => [[String(s.shard), e], n] as const),
      ),
  );
  registry.gauge(
    'dabba_configdist_host_control',
    "control protocol at the hosts (their heartbeats' counters, summed per shard)",
    ['shard', 'counter'],
    () =>
      dist
        .samples()
        .flatMap((s) => Object.entries(s.control).map(([k, n]) => [[String(s.shard), k], n ?? 0] as const)),
  );
  registry.gauge(
    'dabba_configdist_host_data',
    "data protocol at the hosts (their heartbeats' counters, summed per shard: metadata, bytes by source)",
    ['shard', 'counter'],
    () =>
      dist
        .samples()
        .flatMap((s) => Object.entries(s.data).map(([k, n]) => [[String(s.shard), k], n ?? 0] as const)),
  );
  registry.gauge(
    'dabba_configdist_meta_sent',
    'config versions sent to tree roots by the distributor, by shard',
    ['shard'],
    per((s) => s.stats.metaSent),
  );
}

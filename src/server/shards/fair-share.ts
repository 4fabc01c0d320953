/**
 * Fair shares of the scheduler shards among the live replicas. Pure and deterministic: every replica
 * computes the same answer from the same membership.
 */

/**
 * How many shards the replica at `index` of the sorted live replica ids should own: shardCount split
 * as evenly as possible, the first `shardCount % replicas` replicas owning one more. The quotas add
 * up to exactly shardCount.
 */
export function quotaAt(index: number, replicas: number, shardCount: number): number {
  if (replicas <= 0 || index < 0 || index >= replicas) return 0;
  const base = Math.floor(shardCount / replicas);
  return base + (index < shardCount % replicas ? 1 : 0);
}

/** Quota of each replica id. */
export function quotas(replicaIds: readonly string[], shardCount: number): Map<string, number> {
  const sorted = [...new Set(replicaIds)].sort();
  return new Map(sorted.map((id, i) => [id, quotaAt(i, sorted.length, shardCount)]));
}

/**
 * The replica a shard prefers (round-robin over the sorted ids). Replicas first try to acquire the
 * free shards whose home they are, so that they rarely race for the same one.
 */
export function homeOf(shard: number, replicaIds: readonly string[]): string | undefined {
  const sorted = [...new Set(replicaIds)].sort();
  return sorted[shard % Math.max(1, sorted.length)];
}

/**
 * Which shards to release so that a replica owning `owned` keeps at most `quota`: those whose home is
 * another replica first, then the highest numbered (a deterministic choice, so repeated rebalances do
 * not churn).
 */
export function chooseRelease(
  owned: readonly number[],
  quota: number,
  self: string,
  replicaIds: readonly string[],
): number[] {
  const excess = owned.length - Math.max(0, quota);
  if (excess <= 0) return [];
  const ranked = [...owned].sort((a, b) => {
    const ah = homeOf(a, replicaIds) === self ? 1 : 0;
    const bh = homeOf(b, replicaIds) === self ? 1 : 0;
    return ah - bh || b - a;
  });
  return ranked.slice(0, excess);
}

/** Free shards in the order a replica should try them: its home shards first, then the others. */
export function acquireOrder(free: readonly number[], self: string, replicaIds: readonly string[]): number[] {
  return [...free].sort((a, b) => {
    const ah = homeOf(a, replicaIds) === self ? 0 : 1;
    const bh = homeOf(b, replicaIds) === self ? 0 : 1;
    return ah - bh || a - b;
  });
}

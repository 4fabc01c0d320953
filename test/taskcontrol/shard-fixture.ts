/**
 * A sharded service as the TaskControl tests see it: 3 shards of 2 replicas, each task assigned to
 * the shard with the fewest live replicas when first seen (as a shard manager would). A replica is
 * up when it runs, healthy, and has for WARM_MS (it caught up with its shard). The sampler checks,
 * every few tens of ms, that no shard ever has both its replicas down.
 */
import type { DabbaClient } from '../../src/client/index.ts';
import type { TaskRow } from '../../src/model/index.ts';
import { sleep } from '../../src/lib/index.ts';

export const SHARDS = ['s0', 's1', 's2'];
export const PER_SHARD = 2;
export const WARM_MS = 1000;

export class ShardedService {
  readonly shard = new Map<string, string>();
  readonly client: DabbaClient;
  readonly job: string;
  constructor(client: DabbaClient, job: string) {
    this.client = client;
    this.job = job;
  }

  /** Assigns new live tasks to shards; returns the up tasks by shard. */
  async refresh(): Promise<Map<string, Set<string>>> {
    const tasks = await this.client.jobTasks(this.job);
    return this.assign(tasks);
  }

  assign(tasks: readonly TaskRow[]): Map<string, Set<string>> {
    const live = tasks.filter((t) => t.desired === 'run');
    const members = new Map(SHARDS.map((s) => [s, 0]));
    for (const t of live) {
      const s = this.shard.get(t.id);
      if (s !== undefined) members.set(s, (members.get(s) ?? 0) + 1);
    }
    for (const t of live) {
      if (this.shard.has(t.id)) continue;
      const [s] = [...members.entries()].sort((a, b) => a[1] - b[1] || a[0].localeCompare(b[0]))[0] ?? [];
      if (s === undefined) continue;
      this.shard.set(t.id, s);
      members.set(s, (members.get(s) ?? 0) + 1);
    }
    const up = new Map(SHARDS.map((s) => [s, new Set<string>()]));
    const now = Date.now();
    for (const t of live) {
      const s = this.shard.get(t.id);
      if (s !== undefined && isUp(t, now)) up.get(s)?.add(t.id);
    }
    return up;
  }

  /**
   * Samples until `stop` aborts; returns the worst moment seen: the shards that had no replica up
   * (empty: the rule held throughout).
   */
  async sample(stop: AbortSignal): Promise<{ samples: number; violations: string[] }> {
    let samples = 0;
    const violations: string[] = [];
    while (!stop.aborted) {
      const up = await this.refresh();
      samples++;
      for (const [s, set] of up)
        if (PER_SHARD - set.size > 1) violations.push(`${s} down at sample ${samples}`);
      await sleep(40);
    }
    return { samples, violations };
  }
}

export function isUp(t: TaskRow, now: number): boolean {
  return (
    t.desired === 'run' &&
    t.state === 'running' &&
    t.healthy &&
    t.startedAt !== null &&
    now - t.startedAt >= WARM_MS
  );
}

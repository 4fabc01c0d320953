/**
 * A ready-made decision for sharded services: never more than `maxDown` replicas of one shard down
 * at once. The caller says which shard a task serves and which tasks are up now (from its own view:
 * health checks, or Dabba's task status). A task counts as down when it is not up, or when an
 * operation on it was allowed (it is about to stop, or stopped: task ids are never reused). An
 * allowed operation that neither completed nor was proposed again within `forgetAfterMs` is
 * forgotten (Dabba decided otherwise).
 */
import type { TaskControlRequest } from '../../model/index.ts';

export interface ShardGuardOptions {
  /** The shard a task serves (undefined: not sharded, its operations are always allowed). */
  shardOf: (task: string) => string | undefined;
  /** The tasks that are up now (serving), by shard. */
  upTasks: () => Map<string, Set<string>> | Promise<Map<string, Set<string>>>;
  /** Replicas each shard should have. */
  replicasPerShard: number;
  /** At most this many replicas of a shard down at once (default 1). */
  maxDown?: number;
  /** Default 60 s. */
  forgetAfterMs?: number;
  now?: () => number;
}

/** Returns a `decide` for serveTaskControl. */
export function shardGuard(o: ShardGuardOptions): (r: TaskControlRequest) => Promise<string[]> {
  const maxDown = o.maxDown ?? 1;
  const forgetAfter = o.forgetAfterMs ?? 60_000;
  const now = o.now ?? Date.now;
  /** Task -> when an operation on it was allowed (not completed yet). */
  const allowed = new Map<string, number>();
  /** Tasks whose operation completed: stopped for good. */
  const gone = new Set<string>();
  return async (r) => {
    const t = now();
    for (const id of r.completed) {
      const task = id.slice(id.indexOf(':') + 1);
      allowed.delete(task);
      gone.add(task);
    }
    for (const [task, at] of allowed) if (t - at > forgetAfter) allowed.delete(task);
    const up = await o.upTasks();
    const upIn = (shard: string): number => {
      let n = 0;
      for (const task of up.get(shard) ?? []) if (!allowed.has(task) && !gone.has(task)) n++;
      return n;
    };
    const ack: string[] = [];
    for (const p of r.pending) {
      if (allowed.has(p.task)) {
        ack.push(p.id); // allowed before, proposed again
        continue;
      }
      const shard = o.shardOf(p.task);
      const isUp = shard !== undefined && up.get(shard)?.has(p.task) === true && !gone.has(p.task);
      // Not sharded, or not up (the operation takes nothing more down), or the shard can spare it.
      if (shard === undefined || !isUp || o.replicasPerShard - (upIn(shard) - 1) <= maxDown) {
        ack.push(p.id);
        if (isUp) allowed.set(p.task, t);
      }
    }
    return ack;
  };
}

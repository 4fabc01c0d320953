/**
 * What the kv controller knows of a shard's replicas: Dabba's view of the job's tasks (through the
 * API: host, address, port, running and ready) joined with what each replica says of itself
 * (GET /status: which shard, syncing or serving). A replica is up when both agree it serves.
 */
import type { DabbaClient } from '../../src/client/index.ts';

export interface Replica {
  task: string;
  job: string;
  host: string | null;
  /** http://ADDRESS:PORT once Dabba knows where it listens. */
  url: string | undefined;
  /** Dabba's view: running, healthy and ready (its readiness probe passes). */
  ready: boolean;
  /** The replica's own answer: it serves this job's shard (undefined: it did not answer). */
  state: 'syncing' | 'serving' | undefined;
  keys: number | undefined;
  origin: string | undefined;
}

export function isUp(r: Replica): boolean {
  return r.ready && r.state === 'serving';
}

interface ReplicaStatus {
  task: string;
  job: string;
  state: 'syncing' | 'serving';
  keys: number;
  origin: string;
}

async function probe(url: string, timeoutMs: number): Promise<ReplicaStatus | undefined> {
  try {
    const res = await fetch(`${url}/status`, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return undefined;
    return (await res.json()) as ReplicaStatus;
  } catch {
    return undefined;
  }
}

export class ReplicaView {
  readonly #client: DabbaClient;
  readonly #probeTimeoutMs: number;
  readonly #last = new Map<string, { at: number; replicas: Replica[] }>();

  constructor(client: DabbaClient, probeTimeoutMs = 1500) {
    this.#client = client;
    this.#probeTimeoutMs = probeTimeoutMs;
  }

  /** The job's replicas now (the tasks Dabba wants running), each asked for its status. */
  async refresh(job: string): Promise<Replica[]> {
    const tasks = (await this.#client.jobTasks(job)).filter((t) => t.desired === 'run');
    const replicas = await Promise.all(
      tasks.map(async (t): Promise<Replica> => {
        const port = t.ports['http'];
        const url = t.address !== null && port !== undefined ? `http://${t.address}:${port}` : undefined;
        const s = url === undefined ? undefined : await probe(url, this.#probeTimeoutMs);
        // Only the task itself counts: another process on a reused port is not this replica.
        const own = s !== undefined && s.task === t.id && s.job === job ? s : undefined;
        return {
          task: t.id,
          job,
          host: t.host,
          url,
          ready: t.state === 'running' && t.healthy && t.ready,
          state: own?.state,
          keys: own?.keys,
          origin: own?.origin,
        };
      }),
    );
    this.#last.set(job, { at: Date.now(), replicas });
    return replicas;
  }

  /** The last view of the job if it is at most `maxAgeMs` old, else a new one. */
  async recent(job: string, maxAgeMs: number): Promise<Replica[]> {
    const last = this.#last.get(job);
    if (last !== undefined && Date.now() - last.at <= maxAgeMs) return last.replicas;
    return this.refresh(job);
  }
}

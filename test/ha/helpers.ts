/**
 * Helpers of the HA tests: polling, a store wrapper that records every transaction (and can freeze
 * lease renewals, as a SIGSTOP or a partition would), and a fake agent that does through the API what
 * a real agent does: register, heartbeat, and report its assigned tasks running and healthy (or
 * stopped) after a short delay.
 */
import { DabbaClient } from '../../src/client/index.ts';
import type { Task, TaskStatus } from '../../src/model/index.ts';
import type {
  LeaseId,
  Store,
  TxnOptions,
  TxnRequest,
  TxnResult,
  WatchEvent,
  WatchOptions,
} from '../../src/store/index.ts';
import { waitFor as sharedWaitFor } from '../helpers/dev-cluster.ts';
import { TEST_ADMIN_TOKEN } from '../helpers/auth.ts';

async function* delayed(inner: AsyncIterable<WatchEvent[]>, ms: number): AsyncGenerator<WatchEvent[]> {
  for await (const batch of inner) {
    await new Promise((r) => setTimeout(r, ms));
    yield batch;
  }
}

export function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
  intervalMs = 50,
): Promise<T> {
  return sharedWaitFor(what, fn, timeoutMs, intervalMs);
}

export interface RecordedTxn {
  at: number;
  request: TxnRequest;
  result: TxnResult;
}

/**
 * The store as one replica sees it: every call goes to `inner`; transactions are recorded; lease
 * renewals can be frozen (they hang until thawed, as if the process were stopped or cut off).
 */
export class RecordingStore {
  readonly txns: RecordedTxn[] = [];
  readonly store: Store;
  /** Watch batches reach this replica this late (a slow link): it decides from older state. */
  watchDelayMs = 0;
  #frozen = false;
  readonly #hung: (() => void)[] = [];

  constructor(inner: Store) {
    this.store = new Proxy(inner, {
      // An arrow function: `this` is this RecordingStore.
      get: (target, prop, receiver) => {
        if (prop === 'txn') {
          return async (request: TxnRequest, options?: TxnOptions): Promise<TxnResult> => {
            const result = await target.txn(request, options);
            this.txns.push({ at: performance.now(), request, result });
            return result;
          };
        }
        if (prop === 'keepAlive') {
          return async (id: LeaseId) => {
            if (this.#frozen) await new Promise<void>((r) => this.#hung.push(r));
            return target.keepAlive(id);
          };
        }
        if (prop === 'watch' && this.watchDelayMs > 0) {
          return (prefix: string, options: WatchOptions) =>
            delayed(target.watch(prefix, options), this.watchDelayMs);
        }
        if (prop === 'close') return () => Promise.resolve(); // the shared store is closed by the test
        const v: unknown = Reflect.get(target, prop, receiver);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }

  freezeRenewals(): void {
    this.#frozen = true;
  }

  thawRenewals(): void {
    this.#frozen = false;
    for (const r of this.#hung.splice(0)) r();
  }

  /** Successful plan transactions: those fenced on a scheduler shard (a value compare on /shards/N). */
  plansWritten(): { at: number; revision: number; shard: string; shardValue: string }[] {
    const out: { at: number; revision: number; shard: string; shardValue: string }[] = [];
    for (const t of this.txns) {
      if (!t.result.succeeded) continue;
      for (const c of t.request.compare) {
        if (c.target === 'value' && /^\/shards\/\d+$/.test(c.key))
          out.push({ at: t.at, revision: t.result.revision, shard: c.key, shardValue: c.value });
      }
    }
    return out;
  }
}

export interface FakeAgentOptions {
  addrs: string[];
  hostId: string;
  /** How long a task takes to be reported running and healthy. */
  startDelayMs?: number;
  pollMs?: number;
  capacity?: { cpu: number; memoryBytes: number; pids: number };
}

/** Does what an agent does, through the API: tasks are "started" instantly and reported healthy. */
export class FakeAgent {
  readonly client: DabbaClient;
  readonly hostId: string;
  /** Every task id this host was ever assigned, with the version. */
  readonly seen = new Map<string, number>();
  readonly #o: FakeAgentOptions;
  readonly #controller = new AbortController();
  readonly #reported = new Map<string, string>();
  #lease = 0;
  #loops: Promise<void>[] = [];
  errors = 0;

  constructor(o: FakeAgentOptions) {
    this.#o = o;
    this.hostId = o.hostId;
    // A short timeout: a frozen server must not hold the heartbeats back past the host TTL.
    this.client = new DabbaClient({ token: TEST_ADMIN_TOKEN, addr: o.addrs, timeoutMs: 1000 });
  }

  async start(): Promise<void> {
    await this.#register();
    this.#loops = [
      this.#every(1000, () => this.#heartbeat()),
      this.#every(this.#o.pollMs ?? 100, () => this.#poll()),
    ];
  }

  async stop(): Promise<void> {
    this.#controller.abort();
    await Promise.allSettled(this.#loops);
  }

  async #register(): Promise<void> {
    const r = await this.client.registerHost({
      id: this.hostId,
      labels: {},
      capacity: this.#o.capacity ?? { cpu: 64, memoryBytes: 64 * 2 ** 30, pids: 100_000 },
      runtime: 'process',
    });
    this.#lease = r.lease;
  }

  async #heartbeat(): Promise<void> {
    try {
      await this.client.heartbeat(this.hostId, this.#lease);
    } catch {
      await this.#register();
    }
  }

  async #poll(): Promise<void> {
    const { tasks } = await this.client.assignments(this.hostId);
    const now = Date.now();
    for (const t of tasks) {
      if (!this.seen.has(t.id)) this.seen.set(t.id, t.version);
      const want = t.desired === 'run' ? 'running' : 'stopped';
      if (this.#reported.get(t.id) === want) continue;
      if (want === 'running' && now - t.createdAt < (this.#o.startDelayMs ?? 100)) continue;
      await this.client.reportStatus(status(t, want, now));
      this.#reported.set(t.id, want);
    }
  }

  async #every(ms: number, fn: () => Promise<void>): Promise<void> {
    const signal = this.#controller.signal;
    while (!signal.aborted) {
      try {
        await fn();
      } catch {
        this.errors++;
      }
      await new Promise<void>((r) => {
        const t = setTimeout(r, ms);
        signal.addEventListener('abort', () => (clearTimeout(t), r()), { once: true });
      });
    }
  }
}

function status(t: Task, state: 'running' | 'stopped', now: number): TaskStatus {
  const s: TaskStatus = {
    id: t.id,
    job: t.job,
    host: t.host ?? '',
    state,
    healthy: state === 'running',
    ready: state === 'running',
    restarts: 0,
    updatedAt: now,
  };
  if (state === 'running') {
    s.pid = 1;
    s.address = '127.0.0.1';
    s.startedAt = now;
    s.healthySince = now;
  }
  return s;
}

/** A job for the fake agent: a rolling update of `replicas` tasks, one at a time. */
export function rollingJob(name: string, replicas: number, greeting: string, cpu = 0.1): unknown {
  return {
    name,
    replicas,
    task: {
      command: ['sleep', '1000'],
      env: { GREETING: greeting },
      resources: { cpu, memory: '16Mi' },
    },
    update: { maxUnavailable: 0, maxSurge: 1, minHealthy: '300ms', deadline: '2m' },
  };
}

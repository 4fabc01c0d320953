/**
 * Watching examples/kv while Dabba disrupts it: a sampler that reads the three shard jobs' status
 * (GET /v1/jobs/NAME) every ~100 ms and records every moment a shard had fewer than
 * PER_SHARD - 1 replicas up, and a reader that keeps reading the keys written before, each from
 * the replicas Dabba says serve its shard, and records every read no replica could answer.
 */
import type { DabbaClient } from '../../src/client/index.ts';
import { sleep } from '../../src/lib/index.ts';
import type { JobView } from '../../src/model/index.ts';
import { isUp, PER_SHARD, readFrom, replicaUrl, SHARD_JOBS } from './kv-fixture.ts';

export interface Violation {
  at: number;
  job: string;
  up: string[];
  tasks: string[];
}

export class Sampler {
  readonly #client: DabbaClient;
  samples = 0;
  errors = 0;
  readonly violations: Violation[] = [];
  /** Some job showed operations waiting on its controller. */
  sawWaiting = false;
  readonly latest = new Map<string, JobView>();
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(client: DabbaClient) {
    this.#client = client;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        const views = await Promise.all(SHARD_JOBS.map((j) => this.#client.getJob(j)));
        this.samples++;
        for (const v of views) {
          this.latest.set(v.job, v);
          if ((v.taskControl?.waiting.length ?? 0) > 0) this.sawWaiting = true;
          const live = v.tasks.filter((t) => t.desired === 'run');
          const up = live.filter(isUp);
          if (PER_SHARD - up.length > 1) {
            this.violations.push({
              at: Date.now(),
              job: v.job,
              up: up.map((t) => t.id),
              tasks: v.tasks.map((t) => `${t.id}@${t.host ?? '-'}:${t.desired}/${t.state}/ready=${t.ready}`),
            });
          }
        }
      } catch {
        this.errors++;
      }
      await sleep(100);
    }
  }
}

export interface ReadFailure {
  at: number;
  job: string;
  key: string;
  tried: string[];
}

export class Reader {
  readonly #client: DabbaClient;
  readonly #sampler: Sampler;
  readonly #keys: [string, { job: string; value: string }][];
  ok = 0;
  readonly failures: ReadFailure[] = [];
  #stop = new AbortController();
  #loop: Promise<void> | undefined;

  constructor(client: DabbaClient, sampler: Sampler, keys: Map<string, { job: string; value: string }>) {
    this.#client = client;
    this.#sampler = sampler;
    this.#keys = [...keys];
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#loop;
  }

  /** Reads the key from the shard's up replicas (as `view` has them) until one has its value. */
  async #tryRead(view: JobView | undefined, key: string, value: string, tried: string[]): Promise<boolean> {
    for (const t of view?.tasks.filter(isUp) ?? []) {
      const url = replicaUrl(t);
      if (url === undefined) continue;
      const r = await readFrom(url, key);
      if (r.value === value) return true;
      tried.push(`${t.id}: ${r.error ?? `wrong value ${r.value}`}`);
    }
    return false;
  }

  async #run(): Promise<void> {
    let i = 0;
    while (!this.#stop.signal.aborted) {
      const [key, { job, value }] = this.#keys[i++ % this.#keys.length] ?? ['', { job: '', value: '' }];
      const tried: string[] = [];
      // The sampler's view is at most ~100 ms old; a replica stopping since is skipped, and if
      // none answered, the shard is read again from a view just fetched.
      let ok = await this.#tryRead(this.#sampler.latest.get(job), key, value, tried);
      if (!ok) {
        const fresh = await this.#client.getJob(job).catch(() => undefined);
        ok = await this.#tryRead(fresh, key, value, tried);
      }
      if (ok) this.ok++;
      else this.failures.push({ at: Date.now(), job, key, tried });
      await sleep(50);
    }
  }
}

/**
 * The hosts' proxy view, kept up to date incrementally and shared by every host following it
 * (`GET /v1/hosts/ID/mesh?watch=1`). The view is the same for every host: the dependency file, the
 * endpoints of every service it names, the addresses of their hosts. Read once in full when the
 * first host follows; after that, a change under /tasks/JOB/ or /status/JOB/ re-reads only JOB's
 * endpoints (two range reads) and a change of the file reads everything again. At 1,000 services
 * and a few hosts, re-reading every service for every host on every task change (what each stream
 * did before) took seconds per change; this takes one job's reads, once for all hosts.
 * Stops following the store when the last host goes.
 */
import { isDeepStrictEqual } from 'node:util';
import { keys, type HostMeshView, type HostRecord, type ServiceEndpoint } from '../../model/index.ts';
import type { Store } from '../../store/index.ts';
import { jobEndpoints } from './endpoints.ts';
import { hostMeshView } from './host-view.ts';

/** The job of a key under /tasks/JOB/ID or /status/JOB/ID, else undefined. */
export function jobOfKey(key: string): string | undefined {
  for (const prefix of [keys.tasksPrefix, keys.statusPrefix]) {
    if (!key.startsWith(prefix)) continue;
    const rest = key.slice(prefix.length);
    const slash = rest.indexOf('/');
    return slash > 0 ? rest.slice(0, slash) : undefined;
  }
  return undefined;
}

/** The advertised address (the agent URL's host) of a host, or undefined. */
async function hostAddress(store: Store, id: string): Promise<string | undefined> {
  const kv = await store.get(keys.host(id));
  const url = kv === undefined ? undefined : (JSON.parse(kv.value) as HostRecord).agentUrl;
  return url === undefined ? undefined : new URL(url).hostname.replace(/^\[|\]$/g, '');
}

/** One following of the store, shared by the hosts watching at the time. */
class Following {
  view!: HostMeshView;
  /** Bumped each time `view` changes. */
  seq = 0;
  failure: Error | undefined;
  readonly controller = new AbortController();
  readonly #store: Store;
  readonly #waiters = new Set<() => void>();
  /** What changed since the last recompute: the file (everything), or these jobs. */
  #all = false;
  readonly #jobs = new Set<string>();
  #revision = 0;
  #busy = false;
  /** Host id -> address, for the hosts of endpoints (re-read when their job changes). */
  readonly #addresses = new Map<string, string | undefined>();

  constructor(store: Store) {
    this.#store = store;
  }

  async start(): Promise<void> {
    await this.#readAll();
    const signal = this.controller.signal;
    for (const prefix of [keys.meshPrefix, keys.tasksPrefix, keys.statusPrefix]) {
      void (async () => {
        try {
          const batches = this.#store.watch(prefix, { signal, fromRevision: this.view.revision + 1 });
          for await (const batch of batches) {
            for (const e of batch) {
              this.#revision = Math.max(this.#revision, e.kv.modRevision);
              if (prefix === keys.meshPrefix) this.#all = true;
              else {
                const job = jobOfKey(e.kv.key);
                if (job !== undefined) this.#jobs.add(job);
              }
            }
            this.#schedule();
          }
        } catch (e) {
          if (!signal.aborted) this.#fail(e);
        }
      })();
    }
  }

  #fail(e: unknown): void {
    this.failure ??= e instanceof Error ? e : new Error(String(e));
    this.controller.abort();
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters) w();
    this.#waiters.clear();
  }

  /** Resolves at the next change (or failure, or when `signal` aborts). */
  changed(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.#waiters.delete(done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #readAll(): Promise<void> {
    const view = await hostMeshView(this.#store);
    this.#addresses.clear();
    for (const [id, address] of Object.entries(view.hosts ?? {})) this.#addresses.set(id, address);
    this.#revision = Math.max(this.#revision, view.revision);
    this.#publish(view);
  }

  #publish(view: HostMeshView): void {
    if (this.seq > 0) {
      const { revision: _a, ...a } = view;
      const { revision: _b, ...b } = this.view;
      if (isDeepStrictEqual(a, b)) return;
    }
    this.view = view;
    this.seq++;
    this.#wake();
  }

  /** Recomputes what changed, one recompute at a time; changes during one are taken by the next. */
  #schedule(): void {
    if (this.#busy) return;
    this.#busy = true;
    void (async () => {
      try {
        while (!this.controller.signal.aborted && (this.#all || this.#jobs.size > 0)) {
          const all = this.#all;
          const jobs = [...this.#jobs];
          this.#all = false;
          this.#jobs.clear();
          if (all) await this.#readAll();
          else await this.#update(jobs);
        }
      } catch (e) {
        this.#fail(e);
      } finally {
        this.#busy = false;
      }
    })();
  }

  async #update(jobs: string[]): Promise<void> {
    const revision = this.#revision;
    const endpoints: Record<string, ServiceEndpoint[]> = { ...this.view.endpoints };
    const named = jobs.filter((j) => j in endpoints);
    if (named.length === 0) return;
    const fresh = new Set<string>();
    await Promise.all(
      named.map(async (job) => {
        const now = (await jobEndpoints(this.#store, job)).endpoints;
        endpoints[job] = now;
        for (const e of now) fresh.add(e.host);
      }),
    );
    const ids = new Set(Object.values(endpoints).flatMap((es) => es.map((e) => e.host)));
    await Promise.all(
      [...ids]
        .filter((id) => fresh.has(id) || !this.#addresses.has(id))
        .map(async (id) => this.#addresses.set(id, await hostAddress(this.#store, id))),
    );
    const hosts: Record<string, string> = {};
    for (const id of ids) {
      const address = this.#addresses.get(id);
      if (address !== undefined) hosts[id] = address;
    }
    this.#publish({ revision, mesh: this.view.mesh, endpoints, hosts });
  }
}

export class HostViewFeed {
  readonly #store: Store;
  #following: Promise<Following> | undefined;
  #followers = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /** The view now, then each time it changes, until `signal` aborts; throws if the store's watch fails. */
  async *follow(signal: AbortSignal): AsyncGenerator<HostMeshView> {
    this.#followers++;
    try {
      const following = await this.#start();
      let seen = 0;
      while (!signal.aborted) {
        if (following.failure !== undefined) throw following.failure;
        if (following.seq !== seen) {
          seen = following.seq;
          yield following.view;
          continue;
        }
        await following.changed(signal);
      }
    } finally {
      if (--this.#followers === 0) {
        const f = this.#following;
        this.#following = undefined;
        void f?.then((x) => x.controller.abort()).catch(() => undefined);
      }
    }
  }

  #start(): Promise<Following> {
    const current = this.#following;
    if (current !== undefined) {
      // A following that failed is replaced by a fresh one for the next follower.
      return current.then((f) => (f.failure === undefined ? f : this.#restart()));
    }
    return this.#restart();
  }

  #restart(): Promise<Following> {
    const f = new Following(this.#store);
    const started = f.start().then(() => f);
    this.#following = started;
    started.catch(() => {
      if (this.#following === started) this.#following = undefined;
    });
    return started;
  }
}

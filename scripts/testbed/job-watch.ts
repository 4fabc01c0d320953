/**
 * Watches one job through the API (GET /v1/jobs/NAME every few hundred ms) and keeps every view it
 * saw, so a test can ask afterwards how many tasks were healthy at any time and when a task began to
 * stop.
 */
import { readFileSync } from 'node:fs';
import { Agent } from 'undici';
import type { JobView, TaskRow } from '../../src/model/index.ts';

export interface Snapshot {
  at: number;
  view: JobView;
}

export interface Target {
  task: string;
  url: string;
}

/** A task that serves: desired run, running, healthy, with an address. */
export function serving(t: TaskRow): boolean {
  return t.desired === 'run' && t.state === 'running' && t.healthy && t.address !== null;
}

export class JobWatcher {
  readonly job: string;
  readonly snapshots: Snapshot[] = [];
  readonly #url: string;
  readonly #everyMs: number;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  errors = 0;

  readonly #headers: Record<string, string>;

  readonly #dispatcher: Agent | undefined;

  /**
   * `token`: the API token to read the job with (the testbed's admin token); `caFile`: the cluster
   * CA an https:// server is verified against.
   */
  constructor(serverUrl: string, job: string, everyMs = 150, token?: string, caFile?: string) {
    this.#url = `${serverUrl}/v1/jobs/${encodeURIComponent(job)}`;
    this.#headers = token === undefined ? {} : { authorization: `Bearer ${token}` };
    this.#dispatcher =
      caFile === undefined ? undefined : new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } });
    this.job = job;
    this.#everyMs = everyMs;
  }

  /** Starts polling; resolves after the first view. */
  async start(): Promise<void> {
    await this.poll();
    this.#loop = this.#run();
  }

  async poll(): Promise<JobView | undefined> {
    try {
      const res = await fetch(this.#url, {
        signal: AbortSignal.timeout(2000),
        headers: this.#headers,
        // undici's fetch takes its dispatcher at run time; its types differ from @types/node's copy.
        ...((this.#dispatcher === undefined ? {} : { dispatcher: this.#dispatcher }) as RequestInit),
      });
      if (!res.ok) {
        this.errors++;
        return undefined;
      }
      const view = (await res.json()) as JobView;
      this.snapshots.push({ at: Date.now(), view });
      return view;
    } catch {
      this.errors++;
      return undefined;
    }
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      await new Promise((r) => setTimeout(r, this.#everyMs));
      if (!signal.aborted) await this.poll();
    }
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
    await this.#dispatcher?.close().catch(() => undefined);
  }

  latest(): JobView | undefined {
    return this.snapshots.at(-1)?.view;
  }

  /** Where to send requests now: every serving task of the latest view, at its `port` port. */
  targets(port = 'http'): Target[] {
    const v = this.latest();
    if (!v) return [];
    const out: Target[] = [];
    for (const t of v.tasks) {
      const p = t.ports[port];
      if (serving(t) && p !== undefined) out.push({ task: t.id, url: `http://${t.address}:${p}/` });
    }
    return out;
  }

  /** The fewest serving tasks seen in a view taken in [from, to], and when. */
  minServing(from = 0, to = Infinity): { count: number; at: number; tasks: string[] } {
    let best = { count: Infinity, at: 0, tasks: [] as string[] };
    for (const s of this.snapshots) {
      if (s.at < from || s.at > to) continue;
      const tasks = s.view.tasks.filter(serving).map((t) => `${t.id}@v${t.version}`);
      if (tasks.length < best.count) best = { count: tasks.length, at: s.at, tasks };
    }
    return best;
  }

  /**
   * Whether `task` was seen stopping (desired stop, not running, not healthy, or gone) in a view taken
   * in [from, to].
   */
  seenStopping(task: string, from: number, to: number): boolean {
    for (const s of this.snapshots) {
      if (s.at < from || s.at > to) continue;
      const t = s.view.tasks.find((x) => x.id === task);
      if (t === undefined || !serving(t)) return true;
    }
    return false;
  }
}

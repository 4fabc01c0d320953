/**
 * Steady client load: rounds of GET / to every target (each round waits for its answers, then
 * pauses), bounded in time and in number of requests. Each answer is checked: status 200 and a body
 * that names the task it was meant for.
 */
import type { JobWatcher, Target } from './job-watch.ts';

export interface RequestRecord {
  task: string;
  at: number;
  ms: number;
  ok: boolean;
  error?: string;
}

export interface LoadOptions {
  /** Where to send the next round (read before every round). */
  targets: () => Target[];
  /** Stop after this long... */
  durationMs: number;
  /** ...or after this many requests, whichever comes first. */
  maxRequests: number;
  /** Pause between rounds. Default 50 ms. */
  pauseMs?: number;
  /** Per-request timeout. Default 1000 ms. */
  timeoutMs?: number;
}

async function once(t: Target, timeoutMs: number): Promise<RequestRecord> {
  const at = Date.now();
  try {
    const res = await fetch(t.url, { signal: AbortSignal.timeout(timeoutMs) });
    const body = await res.text();
    const ok = res.status === 200 && body.includes(` from ${t.task} `);
    const rec: RequestRecord = { task: t.task, at, ms: Date.now() - at, ok };
    if (!ok) rec.error = `status ${res.status}: ${body.slice(0, 120)}`;
    return rec;
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause?.code;
    const msg = e instanceof Error ? e.message : String(e);
    return { task: t.task, at, ms: Date.now() - at, ok: false, error: cause ? `${msg} (${cause})` : msg };
  }
}

export class Load {
  readonly records: RequestRecord[] = [];
  readonly #o: LoadOptions;
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  startedAt = 0;

  constructor(options: LoadOptions) {
    this.#o = options;
  }

  start(): void {
    this.startedAt = Date.now();
    this.#loop = this.#run();
  }

  async #run(): Promise<void> {
    const until = this.startedAt + this.#o.durationMs;
    const signal = this.#abort.signal;
    while (!signal.aborted && Date.now() < until && this.records.length < this.#o.maxRequests) {
      const targets = this.#o.targets().slice(0, this.#o.maxRequests - this.records.length);
      const round = await Promise.all(targets.map((t) => once(t, this.#o.timeoutMs ?? 1000)));
      this.records.push(...round);
      await new Promise((r) => setTimeout(r, this.#o.pauseMs ?? 50));
    }
  }

  /** Stops the load (waits for the round in flight). */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }
}

export interface LoadReport {
  requests: number;
  ok: number;
  failed: number;
  /** Failures of requests to tasks seen stopping around that time (allowed). */
  excused: number;
  /** Successes over requests to tasks that were serving and not being stopped. */
  successRate: number;
  /** ok / requests, counting every failure. */
  rawSuccessRate: number;
  unexcused: RequestRecord[];
  tasks: number;
}

/**
 * Sorts failures into excused (the task was seen stopping from `beforeMs` before the request to
 * `afterMs` after it: a task being stopped may refuse connections before the view says so) and the
 * rest.
 */
export function report(
  records: RequestRecord[],
  watcher: JobWatcher,
  beforeMs = 1000,
  afterMs = 3000,
): LoadReport {
  let ok = 0;
  let excused = 0;
  const unexcused: RequestRecord[] = [];
  for (const r of records) {
    if (r.ok) ok++;
    else if (watcher.seenStopping(r.task, r.at - beforeMs, r.at + r.ms + afterMs)) excused++;
    else unexcused.push(r);
  }
  const counted = records.length - excused;
  return {
    requests: records.length,
    ok,
    failed: records.length - ok,
    excused,
    successRate: counted === 0 ? 0 : ok / counted,
    rawSuccessRate: records.length === 0 ? 0 : ok / records.length,
    unexcused,
    tasks: new Set(records.map((r) => r.task)).size,
  };
}

export function formatReport(name: string, r: LoadReport): string {
  return (
    `${name}: ${r.requests} requests to ${r.tasks} tasks, ${r.ok} ok, ${r.failed} failed ` +
    `(${r.excused} to tasks being stopped); success ${(r.successRate * 100).toFixed(2)}% of requests to serving ` +
    `tasks, ${(r.rawSuccessRate * 100).toFixed(2)}% of all`
  );
}

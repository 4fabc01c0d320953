/**
 * The placement framework. Tasks are grouped into equivalence classes (same job, same needs); per
 * class the static filters run once (shared by classes with the same static key), giving a shuffled
 * candidate list. Each task then scans that list from a moving cursor, drops hosts that monotone
 * filters reject (they can only get fuller), skips hosts dynamic filters reject, and scores the first
 * `sampleSize` hosts that pass: the best one, lexicographically over the scorers, wins (ties: the
 * smaller host id). A class that fits nowhere gets an explanation built from every host.
 */
import type { Explanation, HostView } from '../model/index.ts';
import { explain, type NamedFilter } from './explain.ts';
import { Fleet } from './fleet.ts';
import { JobState } from './job-state.ts';
import type { ClassFilter, ClassInfo, ClassScorer, FilterPlugin, ScorePlugin } from './plugin.ts';
import { DEFAULT_FILTERS, DEFAULT_SCORERS } from './plugins/index.ts';
import { randomInt, seededRng, shuffle, type Rng } from './rng.ts';
import type {
  AllocateOptions,
  AllocateRequest,
  AllocateResult,
  PlacementAsk,
  PlaceResult,
  ScoringMode,
} from './types.ts';

export const DEFAULT_SAMPLE_SIZE = 32;
export const DEFAULT_NEAREST = 3;

export interface AllocatorConfig {
  hosts: readonly HostView[];
  /**
   * The same hosts already indexed (kept up to date by the caller across allocations): the
   * allocator works on a fork of it instead of indexing `hosts` again. `hosts` is then not read.
   * Allocators sharing a fleet share static filter results by filter name and key: give them the
   * same filter plugins.
   */
  fleet?: Fleet;
  seed: number;
  options?: AllocateOptions;
  /** Replace the default plugins (tests, experiments). */
  filters?: readonly FilterPlugin[];
  scorers?: readonly ScorePlugin[];
}

interface ClassState {
  info: ClassInfo;
  /** Every filter that applies, in order (for explanations). */
  filters: NamedFilter[];
  monotone: ClassFilter[];
  dynamic: ClassFilter[];
  commits: ClassFilter[];
  scorers: ClassScorer[];
  /** Candidates: hosts that pass the static filters, minus those a monotone filter rejected. */
  list: Int32Array;
  n: number;
  cursor: number;
  /** Scratch: the tiers of the candidate being scored and of the best one so far. */
  tiers: Float64Array;
  best: Float64Array;
  failure?: { explanation: Explanation; jobVersion: number; permanent: boolean };
}

/** An allocation in progress: `place` tasks one by one; capacity placed is never handed out twice. */
export class Allocator {
  readonly fleet: Fleet;
  readonly #rng: Rng;
  readonly #scoring: ScoringMode;
  readonly #sampleSize: number;
  readonly #nearest: number;
  readonly #filters: readonly FilterPlugin[];
  readonly #scorers: readonly ScorePlugin[];
  readonly #jobs = new Map<string, JobState>();
  readonly #classes = new Map<string, ClassState>();
  readonly #static = new Map<string, Int32Array>();
  #last: { ask: PlacementAsk; cls: ClassState } | undefined;

  constructor(config: AllocatorConfig) {
    const o = config.options ?? {};
    if (config.fleet === undefined) this.fleet = new Fleet(config.hosts, o.usedPorts);
    else {
      this.fleet = config.fleet.fork();
      for (const [id, ports] of o.usedPorts ?? []) {
        const h = this.fleet.index.get(id);
        if (h !== undefined) this.fleet.usePorts(h, [...ports]);
      }
    }
    this.#rng = seededRng(config.seed);
    this.#scoring = o.scoring ?? 'spread';
    const sample = o.sampleSize ?? DEFAULT_SAMPLE_SIZE;
    this.#sampleSize = sample >= 1 ? sample : DEFAULT_SAMPLE_SIZE;
    this.#nearest = Math.max(0, o.nearest ?? DEFAULT_NEAREST);
    this.#filters = config.filters ?? DEFAULT_FILTERS;
    this.#scorers = config.scorers ?? DEFAULT_SCORERS;
  }

  place(ask: PlacementAsk): PlaceResult {
    const cls = this.#classFor(ask);
    const f = cls.failure;
    if (f !== undefined && (f.permanent || f.jobVersion === cls.info.job.version)) {
      return { host: null, explanation: withTask(f.explanation, ask.task) };
    }
    const h = this.#pick(cls);
    if (h < 0) {
      const explanation = explain(this.fleet, cls.filters, ask, this.#nearest);
      cls.failure = { explanation, jobVersion: cls.info.job.version, permanent: cls.n === 0 };
      return { host: null, explanation };
    }
    for (const c of cls.commits) c.commit?.(h);
    cls.info.job.add(h);
    return { host: this.fleet.id(h) };
  }

  #classFor(ask: PlacementAsk): ClassState {
    const last = this.#last;
    if (
      last !== undefined &&
      last.ask.job === ask.job &&
      last.ask.resources === ask.resources &&
      last.ask.placement === ask.placement &&
      last.ask.ports === ask.ports &&
      last.ask.distinctHosts === ask.distinctHosts &&
      last.ask.uniquePorts === ask.uniquePorts &&
      last.ask.avoidHosts === ask.avoidHosts &&
      last.ask.volumeHost === ask.volumeHost
    ) {
      return last.cls;
    }
    const key = classKey(ask);
    let cls = this.#classes.get(key);
    if (cls === undefined) {
      cls = this.#newClass(ask);
      this.#classes.set(key, cls);
    }
    this.#last = { ask, cls };
    return cls;
  }

  #newClass(ask: PlacementAsk): ClassState {
    let job = this.#jobs.get(ask.job);
    if (job === undefined) {
      job = new JobState(this.fleet, ask.job, ask.existing);
      this.#jobs.set(ask.job, job);
    }
    const info: ClassInfo = { ask, fleet: this.fleet, job, scoring: this.#scoring };
    const filters: NamedFilter[] = [];
    const statics: ClassFilter[] = [];
    const monotone: ClassFilter[] = [];
    const dynamic: ClassFilter[] = [];
    const keyParts: string[] = [];
    for (const p of this.#filters) {
      if (p.stage === 'static') keyParts.push(`${p.name}\u0000${p.key?.(ask) ?? `\u0001${classKey(ask)}`}`);
      const filter = p.forClass(info);
      if (filter === undefined) continue;
      filters.push({ name: p.name, filter });
      (p.stage === 'static' ? statics : p.stage === 'monotone' ? monotone : dynamic).push(filter);
    }
    const staticKey = keyParts.join('\u0002');
    let shared = this.#static.get(staticKey);
    if (shared === undefined) {
      const size = this.fleet.size;
      shared = this.fleet
        .staticPass(staticKey, () => {
          const pass: number[] = [];
          outer: for (let h = 0; h < size; h++) {
            for (const f of statics) if (!f.test(h)) continue outer;
            pass.push(h);
          }
          return Int32Array.from(pass);
        })
        .slice();
      shuffle(shared, this.#rng);
      this.#static.set(staticKey, shared);
    }
    const scorers = this.#scorers.flatMap((p) => p.forClass(info));
    const list = shared.slice();
    return {
      info,
      filters,
      monotone,
      dynamic,
      commits: filters.map((f) => f.filter).filter((f) => f.commit !== undefined),
      scorers,
      list,
      n: list.length,
      cursor: list.length > 0 ? randomInt(this.#rng, list.length) : 0,
      tiers: new Float64Array(scorers.length),
      best: new Float64Array(scorers.length),
    };
  }

  /** The chosen host's index, or -1 when no host passes every filter. */
  #pick(cls: ClassState): number {
    const { list, monotone, dynamic } = cls;
    let best = -1;
    let found = 0;
    let scanned = 0;
    // Sampled scan from the cursor. Hosts rejected by a monotone filter are swapped out for good.
    while (cls.n > 0 && scanned < cls.n && found < this.#sampleSize) {
      if (cls.cursor >= cls.n) cls.cursor = 0;
      const h = list[cls.cursor]!;
      if (!passesAll(monotone, h)) {
        list[cls.cursor] = list[--cls.n]!;
        continue;
      }
      scanned++;
      cls.cursor++;
      if (!passesAll(dynamic, h)) continue;
      found++;
      if (this.#better(cls, h, best)) best = h;
    }
    if (best >= 0 || cls.n === 0) return best;
    // Nothing found by the sampled scan (which may revisit hosts moved by swaps): check every
    // remaining candidate before giving up.
    for (let i = 0; i < cls.n;) {
      const h = list[i]!;
      if (!passesAll(monotone, h)) {
        list[i] = list[--cls.n]!;
        continue;
      }
      i++;
      if (passesAll(dynamic, h) && this.#better(cls, h, best)) best = h;
    }
    return best;
  }

  /** Scores `h` into the class's scratch; true (and `h`'s tiers kept as the best) if it beats `best`. */
  #better(cls: ClassState, h: number, best: number): boolean {
    const { scorers, tiers, best: bt } = cls;
    if (best < 0) {
      for (let i = 0; i < scorers.length; i++) bt[i] = scorers[i]!.score(h);
      return true;
    }
    let verdict = h < best ? 1 : -1;
    let i = 0;
    for (; i < scorers.length; i++) {
      const s = scorers[i]!.score(h);
      tiers[i] = s;
      if (s !== bt[i]!) {
        verdict = s > bt[i]! ? 1 : -1;
        i++;
        break;
      }
    }
    if (verdict < 0) return false;
    for (; i < scorers.length; i++) tiers[i] = scorers[i]!.score(h);
    bt.set(tiers);
    return true;
  }
}

function passesAll(filters: readonly ClassFilter[], h: number): boolean {
  for (const f of filters) if (!f.test(h)) return false;
  return true;
}

function classKey(ask: PlacementAsk): string {
  const r = ask.resources;
  return JSON.stringify([
    ask.job,
    r.cpu,
    r.memoryBytes,
    r.pids,
    ask.placement ?? null,
    ask.distinctHosts === true,
    ask.uniquePorts === true ? (ask.ports ?? []).map((p) => p.port) : null,
    ask.avoidHosts === undefined || ask.avoidHosts.length === 0 ? null : [...new Set(ask.avoidHosts)].sort(),
    ask.volumeHost ?? null,
  ]);
}

function withTask(e: Explanation, task: string): Explanation {
  return e.task === task ? e : { ...e, task };
}

/** Places a batch of tasks, in order. */
export function allocate(request: AllocateRequest): AllocateResult {
  const config: AllocatorConfig = { hosts: request.hosts, seed: request.seed };
  if (request.options !== undefined) config.options = request.options;
  const a = new Allocator(config);
  const placements = new Map<string, string>();
  const failures = new Map<string, Explanation>();
  for (const ask of request.tasks) {
    const r = a.place(ask);
    if (r.host !== null) placements.set(ask.task, r.host);
    else failures.set(ask.task, r.explanation);
  }
  return { placements, failures };
}

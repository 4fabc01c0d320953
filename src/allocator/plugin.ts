/**
 * The plugin contract. A placement runs every filter, then ranks the hosts that pass with the
 * scorers. Plugins are instantiated per equivalence class (tasks of one job with the same needs):
 * `forClass` sees the class once and returns closures over host indices, so the hot path is a few
 * array reads per host.
 */
import type { Fleet } from './fleet.ts';
import type { Shortfall } from '../model/index.ts';
import type { JobState } from './job-state.ts';
import type { PlacementAsk, ScoringMode } from './types.ts';

/** What a plugin knows about the class it is instantiated for. */
export interface ClassInfo {
  /** The class's first ask: every ask of the class has the same needs (only the task id differs). */
  readonly ask: PlacementAsk;
  readonly fleet: Fleet;
  /** The job's tasks: existing and placed so far (shared by all classes of the job). */
  readonly job: JobState;
  readonly scoring: ScoringMode;
}

/**
 * When a filter's answer can change during an allocation:
 * - 'static': never (host state, labels). Evaluated once per distinct `key`, shared by classes.
 * - 'monotone': a host it rejects stays rejected for the class (capacity and ports only get used up,
 *   a job only gains tasks): the class drops such hosts from its candidates for good.
 * - 'dynamic': either way (spread `min`): checked on every candidate, never cached.
 */
export type FilterStage = 'static' | 'monotone' | 'dynamic';

export interface Rejection {
  /** What is wrong with the host, phrased to follow a count: "3 draining", "2 not region=prn". Hosts
   * are grouped by it in explanations, so keep it free of per-host numbers. */
  reason: string;
  shortfall?: Shortfall;
  /** How far the host is from passing this filter, for ranking nearest fits (default 1; resource
   * shortfalls give the missing fraction of the need). */
  distance?: number;
}

export interface ClassFilter {
  /** Does host `h` pass? The hot path: keep it allocation-free. */
  test(h: number): boolean;
  /** Why host `h` fails (called only when `test(h)` is false). */
  explain(h: number): Rejection;
  /**
   * What would make the task fit, given the hosts that fail this filter and no other (non-empty when
   * called). Returns human sentences: "needs 4 CPUs; the largest free is 2 on host h3".
   */
  suggest?(onlyThis: readonly number[]): string[];
  /** The task was placed on `h`: record what it uses. */
  commit?(h: number): void;
}

export interface FilterPlugin {
  readonly name: string;
  readonly stage: FilterStage;
  /** Static filters only: asks with equal keys get equal answers (lets classes share the work). */
  key?(ask: PlacementAsk): string;
  /** The filter for one class, or undefined when it does not apply (no constraints, say). */
  forClass(c: ClassInfo): ClassFilter | undefined;
}

export interface ClassScorer {
  /** Higher is better. Scorers rank lexicographically, in the order the framework lists them. */
  score(h: number): number;
}

export interface ScorePlugin {
  readonly name: string;
  /** Zero or more ranking tiers for the class (spread gives one per attribute). */
  forClass(c: ClassInfo): ClassScorer[];
}

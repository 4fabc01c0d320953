/**
 * The allocator: where tasks go, or why they cannot. A framework of filter and score plugins
 * (plugins/<name>/), equivalence classes, seeded sampling of candidate hosts and structured
 * explanations. Pure: no I/O, no clock; randomness from the request's seed.
 */
export {
  allocate,
  Allocator,
  DEFAULT_NEAREST,
  DEFAULT_SAMPLE_SIZE,
  type AllocatorConfig,
} from './allocator.ts';
export type {
  AllocateOptions,
  AllocateRequest,
  AllocateResult,
  JobTaskCounts,
  PlacementAsk,
  PlaceResult,
  ScoringMode,
} from './types.ts';
export { formatExplanation } from './explanation.ts';
export type { Explanation } from '../model/index.ts';
export type {
  ClassFilter,
  ClassInfo,
  ClassScorer,
  FilterPlugin,
  FilterStage,
  Rejection,
  ScorePlugin,
} from './plugin.ts';
export { DEFAULT_FILTERS, DEFAULT_SCORERS } from './plugins/index.ts';
export { attributeOf, PSEUDO_ATTRIBUTES } from './attributes.ts';
export { hashString } from './rng.ts';
export { Fleet } from './fleet.ts';
